"""Environments as a service: ``rlenvs serve-env`` (OpenEnv's protocol) and ``RemoteEnv``.

>>> from rlenvs.serving import EnvServer, RemoteEnv
>>> with EnvServer(["rlenvs/ToolMath-v0"]).background() as base:
...     env = RemoteEnv(f"{base}/rlenvs/ToolMath-v0")
"""

from rlenvs.serving.client import RemoteEnv, RemoteEnvError, register_remote, ws_url

__all__ = ["EnvServer", "RemoteEnv", "RemoteEnvError", "register_remote", "ws_url"]


def __getattr__(name: str):  # the server needs starlette/uvicorn; the client does not
    if name == "EnvServer":
        from rlenvs.serving.server import EnvServer

        return EnvServer
    raise AttributeError(f"module 'rlenvs.serving' has no attribute {name!r}")
