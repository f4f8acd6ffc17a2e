"""``rlenvs/TextArena-v0``: TextArena's single-player games as multi-turn environments.

TextArena (``pip install textarena``) ships text games; ``game=`` names one by its TextArena id
(``"Sudoku-v0"``, ``"Minesweeper-v0-small"``, ... :data:`SINGLE_PLAYER_GAMES` lists the ones that
run offline). The game itself runs unwrapped (TextArena's ``-raw`` variant):

* observation: the conversation; the first user message is the game's prompt and board, each
  later one is what the game said after the policy's move (its own echo of the move left out);
* action: the policy's reply, handed to the game's ``step`` as it stands (the game parses the
  move, e.g. ``[3 4]``; an unreadable move is the game's "invalid move", with its own error
  allowance);
* reward: the game's outcome when it ends. ``passed`` means the game was won (outcome 1); the
  verdict's score is the outcome clipped to [0, 1] (a loss by invalid moves, -1 in TextArena, is
  0), so the ``dense`` schedule pays TextArena's partial-completion outcomes and ``binary`` (the
  default) pays a win. The raw outcome is ``info["game_reward"]``.

Seeding: TextArena games draw from Python's global ``random``. Each episode owns a private
``random`` state, swapped in around every call into the game and out again afterwards, so the
same seed gives the same game and the same responses to the same moves, other users of
``random`` are left alone, and ``clone()`` (a deep copy of the game and that state) branches
the game exactly. The task's ``seed`` is private: it decides the hidden state (the number to
guess, the mines).
"""

from __future__ import annotations

import contextlib
import copy
import io
import random
from collections.abc import Iterator
from typing import Any

import numpy as np

from judges import Verdict
from rlenvs.core import LLMEnv, Turn

__all__ = ["TextArenaEnv", "SINGLE_PLAYER_GAMES"]

#: single-player TextArena games that run offline (no LLM API, no corpus download), each with
#: its variants; other TextArena ids are accepted if they are single-player
SINGLE_PLAYER_GAMES = (
    "Bandit-v0", "Blackjack-v0", "Crosswords-v0", "FifteenPuzzle-v0", "FrozenLake-v0",
    "GuessTheNumber-v0", "LightsOut-v0", "LogicPuzzle-v0", "Mastermind-v0", "Minesweeper-v0",
    "PegJump-v0", "RushHour-v0", "Secretary-v0", "Set-v0", "Sokoban-v0", "Sudoku-v0",
    "TowerOfHanoi-v0", "2048-v0", "Countdown-v0", "Cryptarithm-v0", "Slitherlink-v0",
    "ThreeCardMonte-v0",
)


def _registry() -> dict[str, Any]:
    try:
        from textarena.envs.registration import ENV_REGISTRY
    except ImportError:
        raise ImportError("rlenvs/TextArena-v0 needs textarena: pip install textarena==0.7.4") \
            from None
    return ENV_REGISTRY


def _outcome(reward: Any, reason: Any) -> tuple[float, str]:
    """The game's outcome and why. Some 0.7.4 games (Countdown, Cryptarithm, Slitherlink,
    ThreeCardMonte) call ``set_invalid_move(progress, message)`` with the arguments swapped, so a
    game lost by invalid moves ends with the message as its reward: the number is the other."""
    if isinstance(reward, str):  # the reason slot holds "Invalid Move: <progress>"
        reward, reason = str(reason).removeprefix("Invalid Move: "), f"Invalid Move: {reward}"
    try:
        return float(reward), str(reason)
    except (TypeError, ValueError):
        return 0.0, str(reason)


class TextArenaEnv(LLMEnv):
    """A TextArena single-player game (``game=``, a TextArena id) played turn by turn; reward:
    the game's outcome (a win passes).

    Args:
        game: a TextArena id (:data:`SINGLE_PLAYER_GAMES`, or a variant such as
            ``"Sudoku-v0-easy"``); its ``-raw`` version is played.
        game_kwargs: options for the game's constructor (override the id's defaults).
        max_turns: replies before the episode is truncated (the game's own turn limit usually
            ends it first).
        **kwargs: ``LLMEnv`` options (reward schedule, system prompt, ...).
    """

    public_fields = ("game",)  # the seed (and the id naming it) decides the hidden state
    public_info_keys = ("game_reward",)

    def __init__(self, game: str = "GuessTheNumber-v0", game_kwargs: dict[str, Any] | None = None,
                 max_turns: int = 300, **kwargs: Any) -> None:
        super().__init__(max_turns=max_turns, **kwargs)
        registry = _registry()
        raw = game if game.endswith("-raw") else f"{game}-raw"
        if raw not in registry:
            import difflib

            close = difflib.get_close_matches(game, [k for k in registry if "-raw" not in k
                                                     and "-train" not in k], n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"TextArena has no game {game!r}.{hint} Offline single-player "
                             f"games: {', '.join(SINGLE_PLAYER_GAMES)}")
        self.game = game.removesuffix("-raw")
        self.game_kwargs = dict(game_kwargs or {})
        self._game: Any = None
        self._rng_state: Any = None
        self._game_reward: float | None = None

    # ----------------------------------------------------------------- the game's randomness
    @contextlib.contextmanager
    def _in_game(self) -> Iterator[None]:
        """Run game code with the episode's own ``random`` state and its prints swallowed."""
        outside = random.getstate()
        random.setstate(self._rng_state)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                yield
        finally:
            self._rng_state = random.getstate()
            random.setstate(outside)

    def _observation_text(self) -> str:
        _, observations = self._game.get_observation()
        said = [str(message) for _, message, kind in observations
                if getattr(kind, "name", "") != "PLAYER_ACTION"]
        return "\n\n".join(s.strip() for s in said if s.strip())

    # ----------------------------------------------------------------- LLMEnv hooks
    def sample_task(self, rng: np.random.Generator) -> dict[str, Any]:
        seed = int(rng.integers(2**31 - 1))
        return {"id": f"{self.game}-{seed}", "game": self.game, "seed": seed}

    def validate_task(self, task: Any) -> dict[str, Any]:
        task = super().validate_task(task)
        if not isinstance(task.get("seed"), int):
            raise ValueError("options['task'] for TextArena-v0 needs an int 'seed' (the game's "
                             "deal), e.g. {'seed': 3}")
        if task.setdefault("game", self.game) != self.game:
            raise ValueError(f"this env plays {self.game!r}, the task names {task['game']!r}: "
                             f"make the env with game={task['game']!r}")
        task.setdefault("id", f"{self.game}-{task['seed']}")
        return task

    def initial_messages(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        import textarena

        self._rng_state = random.Random(task["seed"]).getstate()
        self._game_reward = None
        with self._in_game():
            self._game = textarena.make(f"{self.game}-raw", **self.game_kwargs)
            self._game.reset(num_players=1, seed=task["seed"])
            state = getattr(self._game, "state", None)
            if getattr(state, "num_players", 1) != 1:
                raise ValueError(f"{self.game} is not a single-player game")
            text = self._observation_text()
        return [{"role": "user", "content": text}]

    def _step_game(self, reply: str) -> bool:
        """The policy's move; True when the game ended. A reply the game's own code raises on
        (TextArena's parsers call ``int()`` on any digit run: ``[9...9]`` with 5,000 digits
        raises ``ValueError``) is an invalid move under the game's rules - its error allowance,
        then a loss - never an exception out of ``step`` and never a fault the policy could
        use to leave a lost game unscored."""
        try:
            done, _ = self._game.step(reply)
        except Exception as exc:  # the game's code on the policy's text: the move is unreadable
            state = self._game.state
            if not state.done:
                state.set_invalid_move(reason=f"the move could not be read ({type(exc).__name__})")
            done, _ = state.step()
        return bool(done)

    def respond(self, reply: str) -> Turn:
        with self._in_game():
            done = self._step_game(reply)
            text = self._observation_text()
            result = self._game.close() if done else None
        return self._turn(text, result)

    #: the player seat whose outcome is the reward
    seat = 0

    def score_of(self, outcome: float) -> float:
        """The verdict's score for TextArena's outcome (single-player: clipped to [0, 1])."""
        return min(1.0, max(0.0, outcome))

    def _turn(self, text: str, result: Any) -> Turn:
        """The step's turn: the game goes on (``result`` None) or ended with ``close()``'s
        ``(rewards, game_info)``, scored for :attr:`seat`."""
        if result is None:
            return Turn(verdict=Verdict(score=0.0, passed=False, reason="the game goes on"),
                        terminated=False,
                        feedback=[{"role": "user", "content": text or "(no change)"}],
                        reward_components={"outcome": 0.0})
        rewards, game_info = result
        outcome, why = _outcome((rewards or {}).get(self.seat, 0.0),
                                (game_info or {}).get(self.seat, {}).get("reason", ""))
        self._game_reward = outcome
        score = self.score_of(outcome)
        return Turn(verdict=Verdict(score=score, passed=outcome >= 1.0,
                                    reason=f"game over: {why}"[:300] if why else "game over",
                                    details={"game_reward": outcome, "final_text": text[:500]}),
                    terminated=True, reward_components={"outcome": score},
                    info={"game_reward": outcome})

    def state_extra(self) -> Any:
        return {"game_reward": self._game_reward}

    def _clone_into(self, twin: LLMEnv) -> None:
        twin._game = copy.deepcopy(self._game)  # type: ignore[attr-defined]
        twin._rng_state = copy.deepcopy(self._rng_state)  # type: ignore[attr-defined]

    @staticmethod
    def list_variants() -> str:
        """What ``rlenvs list`` prints under the id: the games ``game=`` takes offline."""
        return f"game= one of {len(SINGLE_PLAYER_GAMES)}: {', '.join(SINGLE_PLAYER_GAMES)}"
