"""rlenvs/TextArenaDuel-v0 (issue 31): TextArena two-player games against a fixed, seeded
opponent -- check_env, a perfect Nim player wins, the heuristic blocks, invalid moves, seeding
and clone."""

from __future__ import annotations

import warnings

import pytest
from gymnasium.utils.env_checker import check_env

import rlenvs
from rlenvs.envs.textarena_duel import OPPONENTS, TWO_PLAYER_GAMES

ENV = "rlenvs/TextArenaDuel-v0"


@pytest.mark.parametrize("game", list(TWO_PLAYER_GAMES))
@pytest.mark.parametrize("opponent", OPPONENTS)
def test_every_game_and_opponent_passes_check_env(game, opponent):
    env = rlenvs.make(ENV, game=game, opponent=opponent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped)
    obs, info = env.reset(seed=1)
    assert obs[0]["role"] == "user" and obs[0]["content"].strip()
    assert env.unwrapped.public_task(info["task"]) == {"game": game, "opponent": opponent,
                                                       "policy_player": 0}


def _nim_move(text_piles):
    total = 0
    for pile in text_piles:
        total ^= pile
    for i, pile in enumerate(text_piles):
        if pile ^ total < pile:
            return f"[{i} {pile - (pile ^ total)}]"
    raise AssertionError("no winning move")


def test_the_nim_sum_strategy_beats_the_heuristic_opponent():
    env = rlenvs.make(ENV, game="Nim-v0", opponent="heuristic")
    env.reset(seed=4)
    for _ in range(30):
        piles = env.unwrapped._game.state.game_state["piles"]
        _, reward, terminated, truncated, info = env.step(f"I take {_nim_move(piles)}.")
        if terminated or truncated:
            break
    assert terminated and reward == 1.0 and info["verdict"].passed and info["game_reward"] == 1.0


def test_the_nim_sum_strategy_as_second_player_loses_to_the_heuristic():
    """[3, 4, 5] is a first-player win: the heuristic opener plays it perfectly."""
    env = rlenvs.make(ENV, game="Nim-v0", opponent="heuristic", policy_player=1)
    obs, _ = env.reset(seed=0)
    assert "Your opponent (Player 0) played" in obs[0]["content"]
    for _ in range(30):
        piles = env.unwrapped._game.state.game_state["piles"]
        legal = next(f"[{i} 1]" for i, p in enumerate(piles) if p)
        _, reward, terminated, _, info = env.step(legal)
        if terminated:
            break
    assert reward == 0.0 and info["game_reward"] == -1.0 and not info["verdict"].passed


def test_the_heuristic_blocks_a_row_and_the_random_opponent_does_not_always():
    blocked = 0
    for seed in range(12):
        env = rlenvs.make(ENV, game="TicTacToe-v0", opponent="heuristic")
        env.reset(seed=seed)
        env.step("[0]")
        board = env.unwrapped._game.state.game_state["board"]
        if board[0][1] or board[0][2]:
            continue  # the opponent's first (random) move is already in the row
        obs, *_ = env.step("[1]")  # threatens [2]
        assert env.unwrapped._game.state.game_state["board"][0][2] == "X", obs[-1]["content"]
        blocked += 1
    assert blocked >= 3


def test_invalid_move_is_the_games_complaint_and_the_opponent_waits():
    env = rlenvs.make(ENV, game="ConnectFour-v0", opponent="random")
    env.reset(seed=2)
    obs, reward, terminated, truncated, info = env.step("I have no idea.")
    assert not terminated and reward == 0.0 and "Invalid action format" in obs[-1]["content"]
    board = env.unwrapped._game.state.game_state["board"]
    assert all(cell == "." for row in board for cell in row)  # nobody moved
    obs, *_ = env.step("I have no idea either.")  # the error allowance is spent: a loss
    assert env.unwrapped._game.state.done and obs is not None


def test_same_seed_same_game_and_clone_branches_exactly():
    env = rlenvs.make(ENV, game="ConnectFour-v0", opponent="random")
    first = [env.reset(seed=9)[0][0]["content"]] + [env.step(f"[col {c}]")[0][-1]["content"]
                                                    for c in (3, 3, 4)]
    second = [env.reset(seed=9)[0][0]["content"]] + [env.step(f"[col {c}]")[0][-1]["content"]
                                                     for c in (3, 3, 4)]
    assert first == second
    env.reset(seed=9)
    env.step("[col 3]")
    twin = env.unwrapped.clone()
    a = env.step("[col 5]")[0][-1]["content"]
    b = twin.step("[col 5]")[0][-1]["content"]
    assert a == b


def test_misuse_is_a_clear_error():
    with pytest.raises(ValueError, match="TextArena-v0's"):
        rlenvs.make(ENV, game="Sudoku-v0")
    with pytest.raises(ValueError, match="opponent must be one of"):
        rlenvs.make(ENV, opponent="grandmaster")
    with pytest.raises(ValueError, match="policy_player must be 0 or 1"):
        rlenvs.make(ENV, policy_player=2)
