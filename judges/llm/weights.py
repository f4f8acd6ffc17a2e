"""Moving weights from the trainer's policy to an inference copy (LoRA merged on the fly)."""

from __future__ import annotations

import torch

__all__ = ["copy_policy_weights", "merged_state_dict"]


def copy_policy_weights(source: torch.nn.Module, target: torch.nn.Module) -> None:
    """Copy ``source``'s weights into ``target`` (same architecture), casting dtypes.

    ``source`` may be a peft model: LoRA deltas are added to the base weights (the training
    model itself is never merged, so its base weights stay bit-exact).
    """
    merged = merged_state_dict(source)
    with torch.no_grad():
        for name, tensor in target.state_dict().items():
            if name in merged:
                tensor.copy_(merged[name])
            elif not name.endswith("lm_head.weight"):  # tied to the embeddings
                raise KeyError(f"sampler weight {name!r} has no counterpart in the policy")


def merged_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The plain-model state dict of ``model``; LoRA adapters of a peft model merged in."""
    if not hasattr(model, "peft_config"):
        return dict(model.state_dict())
    base = model.get_base_model()
    merged: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for name, module in base.named_modules():
            if hasattr(module, "get_delta_weight") and hasattr(module, "base_layer"):
                weight = module.base_layer.weight
                delta = sum(module.get_delta_weight(a) for a in module.active_adapters)
                merged[f"{name}.weight"] = weight + delta
                if getattr(module.base_layer, "bias", None) is not None:
                    merged[f"{name}.bias"] = module.base_layer.bias
        for name, tensor in base.state_dict().items():
            if "lora_" in name:
                continue
            clean = name.replace(".base_layer", "")
            merged.setdefault(clean, tensor)
    return merged
