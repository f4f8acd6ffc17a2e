"""``rlenvs/TextArenaDuel-v0``: TextArena's two-player games against a fixed, seeded opponent.

The policy plays one seat (``policy_player=0``, the first mover, by default); the other seat is
played by a fixed opponent inside the environment, so an episode is a single-agent multi-turn
game like ``rlenvs/TextArena-v0`` (whose seeding, private ``random`` state and ``clone()`` it
shares):

* observation: what the game told the policy's seat (prompt, board, the opponent's moves, the
  game's complaints), the policy's own echoes left out;
* action: the policy's move as text (the game parses it: ``[4]``, ``[col 3]``, ``[0 2]``);
* reward: the policy seat's outcome when the game ends: a win scores 1 (and passes), a draw 0.5,
  a loss (or a game lost by invalid moves) 0; ``info["game_reward"]`` is TextArena's own (-1, 0,
  1).

Opponents (``opponent=``): ``"random"`` -- a uniformly random legal move; ``"heuristic"`` -- a
move that wins at once if there is one, else one that blocks the policy's immediate win, else
random (Nim: the nim-sum strategy, random where it has no winning move). The opponent's
randomness is the episode's own (seeded by the task's seed, copied by ``clone()``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from rlenvs.core import Turn
from rlenvs.envs.textarena_env import TextArenaEnv

__all__ = ["TextArenaDuelEnv", "TWO_PLAYER_GAMES", "OPPONENTS"]


def _tictactoe_moves(state: dict[str, Any]) -> list[str]:
    board = state["board"]
    return [f"[{r * 3 + c}]" for r in range(3) for c in range(3) if board[r][c] == ""]


def _connect_four_moves(state: dict[str, Any]) -> list[str]:
    return [f"[col {c}]" for c, top in enumerate(state["board"][0]) if top == "."]


def _nim_moves(state: dict[str, Any]) -> list[str]:
    return [f"[{i} {q}]" for i, pile in enumerate(state["piles"]) for q in range(1, pile + 1)]


def _nim_strategy(state: dict[str, Any]) -> str | None:
    """The move leaving a nim-sum of 0 (a won position under the normal play rule), if any."""
    piles = state["piles"]
    total = 0
    for pile in piles:
        total ^= pile
    for i, pile in enumerate(piles):
        if total and pile ^ total < pile:
            return f"[{i} {pile - (pile ^ total)}]"
    return None


#: game id -> its legal moves from TextArena's game state, and a strategy move (or None)
TWO_PLAYER_GAMES: dict[str, tuple[Callable[[dict[str, Any]], list[str]],
                                  Callable[[dict[str, Any]], str | None] | None]] = {
    "TicTacToe-v0": (_tictactoe_moves, None),
    "ConnectFour-v0": (_connect_four_moves, None),
    "Nim-v0": (_nim_moves, _nim_strategy),
}
OPPONENTS = ("random", "heuristic")


def _wins(game: Any, move: str, seat: int) -> bool:
    """Whether ``seat`` playing ``move`` now would win the game at once (on a copy)."""
    trial = copy.deepcopy(game)
    trial.state.current_player_id = seat
    trial.state.error_allowance = 0  # an illegal trial move ends the copy, never loops
    trial.step(move)
    return bool(trial.state.done) and (trial.state.rewards or {}).get(seat) == 1


class TextArenaDuelEnv(TextArenaEnv):
    """A TextArena two-player game (``game=``: one of :data:`TWO_PLAYER_GAMES`, or a variant
    such as ``"ConnectFour-v0-large"``) against a fixed opponent.

    Args:
        game: the TextArena id.
        opponent: ``"random"`` or ``"heuristic"`` (see the module docstring).
        policy_player: the policy's seat, 0 (moves first) or 1.
        game_kwargs / max_turns / **kwargs: as for ``rlenvs/TextArena-v0``.
    """

    public_fields = ("game", "opponent", "policy_player")

    def __init__(self, game: str = "TicTacToe-v0", opponent: str = "heuristic",
                 policy_player: int = 0, game_kwargs: dict[str, Any] | None = None,
                 max_turns: int = 100, **kwargs: Any) -> None:
        base = game.removesuffix("-raw")
        family = next((g for g in TWO_PLAYER_GAMES if base == g or base.startswith(g + "-")),
                      None)
        if family is None:
            raise ValueError(f"TextArenaDuel-v0 plays {', '.join(TWO_PLAYER_GAMES)} (and their "
                             f"variants), not {game!r}; single-player games are "
                             "rlenvs/TextArena-v0's")
        if opponent not in OPPONENTS:
            raise ValueError(f"opponent must be one of {', '.join(OPPONENTS)}, got {opponent!r}")
        if policy_player not in (0, 1):
            raise ValueError(f"policy_player must be 0 or 1, got {policy_player!r}")
        super().__init__(game=game, game_kwargs=game_kwargs, max_turns=max_turns, **kwargs)
        self.opponent = opponent
        self.policy_player = policy_player
        self._legal_moves, self._strategy = TWO_PLAYER_GAMES[family]
        self._opponent_rng: np.random.Generator | None = None

    # ----------------------------------------------------------------- the opponent
    def _opponent_move(self) -> str:
        state = self._game.state.game_state
        moves = self._legal_moves(state)
        seat = 1 - self.policy_player
        if self.opponent == "heuristic":
            if self._strategy is not None:
                best = self._strategy(state)
                if best is not None:
                    return best
            else:
                for who in (seat, self.policy_player):  # win now, else block the policy's win
                    for move in moves:
                        if _wins(self._game, move, who):
                            return move
        return moves[int(self._opponent_rng.integers(len(moves)))]  # type: ignore[union-attr]

    def _play_opponent(self) -> bool:
        """The opponent moves while it is its turn; returns whether the game ended."""
        done = bool(self._game.state.done)
        while not done and self._game.state.current_player_id != self.policy_player:
            done, _ = self._game.step(self._opponent_move())
        return bool(done)

    def _observation_text(self) -> str:
        _, observations = self._game.get_observation()
        said = []
        for sender, message, kind in observations:
            if getattr(kind, "name", "") == "PLAYER_ACTION":
                if sender == self.policy_player:
                    continue  # the policy's own echo
                message = f"Your opponent (Player {sender}) played: {message}"
            said.append(str(message).strip())
        return "\n\n".join(s for s in said if s)

    # ----------------------------------------------------------------- LLMEnv hooks
    def sample_task(self, rng: np.random.Generator) -> dict[str, Any]:
        return {**super().sample_task(rng), "opponent": self.opponent,
                "policy_player": self.policy_player}

    def validate_task(self, task: Any) -> dict[str, Any]:
        task = super().validate_task(task)
        for key in ("opponent", "policy_player"):
            if task.setdefault(key, getattr(self, key)) != getattr(self, key):
                raise ValueError(f"this env plays {key}={getattr(self, key)!r}, the task names "
                                 f"{task[key]!r}: make the env with {key}={task[key]!r}")
        return task

    def initial_messages(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        import random

        import textarena

        self._rng_state = random.Random(task["seed"]).getstate()
        self._opponent_rng = np.random.default_rng(task["seed"])
        self._game_reward = None
        with self._in_game():
            self._game = textarena.make(f"{self.game}-raw", **self.game_kwargs)
            self._game.reset(num_players=2, seed=task["seed"])
            self._play_opponent()  # the opponent opens when the policy plays second
            text = self._observation_text()
        return [{"role": "user", "content": text}]

    def respond(self, reply: str) -> Turn:
        with self._in_game():
            done = self._step_game(reply)
            if not done:
                done = self._play_opponent()
            text = self._observation_text()
            result = self._game.close() if done else None
        return self._turn(text, result)

    @property
    def seat(self) -> int:  # type: ignore[override]
        return self.policy_player

    def score_of(self, outcome: float) -> float:
        """Win 1, draw 0.5, loss 0."""
        return min(1.0, max(0.0, (outcome + 1.0) / 2.0))

    def _clone_into(self, twin: Any) -> None:
        super()._clone_into(twin)
        twin._opponent_rng = copy.deepcopy(self._opponent_rng)

    @staticmethod
    def list_variants() -> str:
        return (f"game= one of {', '.join(TWO_PLAYER_GAMES)}; opponent= "
                f"{' or '.join(OPPONENTS)}; policy_player= 0 or 1")
