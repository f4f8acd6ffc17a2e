"""rlenvs/TextArena-v0 (issue 31): TextArena's single-player games as multi-turn environments --
check_env on every offline game, scripted policies that win, clone, seeding, the audit."""

from __future__ import annotations

import random
import re
import warnings

import pytest
from gymnasium.utils.env_checker import check_env

import rlenvs
from rlenvs.audit import audit
from rlenvs.envs.textarena_env import SINGLE_PLAYER_GAMES

ENV = "rlenvs/TextArena-v0"
SLOW_GAMES = {"RushHour-v0", "Slitherlink-v0"}  # generate and check a puzzle per reset


@pytest.mark.parametrize("game", [pytest.param(g, marks=pytest.mark.slow) if g in SLOW_GAMES
                                  else g for g in SINGLE_PLAYER_GAMES])
def test_every_offline_game_passes_check_env(game):
    env = rlenvs.make(ENV, game=game)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped)
    obs, info = env.reset(seed=2)
    assert obs[0]["role"] == "user" and obs[0]["content"].strip()
    assert env.unwrapped.public_task(info["task"]) == {"game": game}
    obs, reward, terminated, truncated, info = env.step("I have no idea what to do.")
    assert isinstance(reward, float) and not truncated
    if not terminated:  # the game's own complaint about the move comes back as the next message
        assert obs[-1]["role"] == "user" and obs[-1]["content"].strip()


def test_at_least_ten_games_are_offered():
    assert len(SINGLE_PLAYER_GAMES) >= 10


# ------------------------------------------------------------------ scripted policies win

def _play(env, policy, limit=60):
    obs, _ = env.reset(seed=11)
    for _ in range(limit):
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        if terminated or truncated:
            return reward, info
    raise AssertionError("the game did not end")


def test_binary_search_wins_guess_the_number_from_the_text_alone():
    bounds = [1, 20]

    def policy(obs):
        text = obs[-1]["content"]
        if obs[-1] is not obs[0] and "higher" in text:
            bounds[0] = policy.last + 1
        elif obs[-1] is not obs[0] and "lower" in text:
            bounds[1] = policy.last - 1
        policy.last = (bounds[0] + bounds[1]) // 2
        return f"My guess is [{policy.last}]."

    reward, info = _play(rlenvs.make(ENV, game="GuessTheNumber-v0"), policy)
    assert reward == 1.0 and info["verdict"].passed and info["game_reward"] == 1.0


def test_the_recursive_solution_wins_tower_of_hanoi_one_move_a_turn():
    moves = []

    def hanoi(n, a, b, c):
        if n:
            hanoi(n - 1, a, c, b)
            moves.append(f"[{a} {c}]")
            hanoi(n - 1, b, a, c)

    hanoi(3, "A", "B", "C")
    turns = iter(moves)
    env = rlenvs.make(ENV, game="TowerOfHanoi-v0")
    reward, info = _play(env, lambda obs: f"I move {next(turns)}.")
    assert reward == 1.0 and info["verdict"].passed and info["turn"] == 7


def test_filling_the_solution_wins_sudoku_and_a_wrong_digit_is_refused():
    env = rlenvs.make(ENV, game="Sudoku-v0-very-easy")
    env.reset(seed=5)
    game = env.unwrapped._game  # the test reads the hidden solution in process
    board, solution = game.state.game_state["board"], game.full_grid
    blanks = [(r, c) for r in range(9) for c in range(9) if board[r][c] == 0]
    assert blanks
    r, c = blanks[0]
    wrong = next(n for n in range(1, 10) if n != solution[r][c])
    obs, reward, terminated, _, _ = env.step(f"[{r + 1} {c + 1} {wrong}]")
    assert not terminated and "violates Sudoku rules" in obs[-1]["content"]
    for i, (r, c) in enumerate(blanks):
        obs, reward, terminated, _, info = env.step(f"[{r + 1} {c + 1} {solution[r][c]}]")
        assert terminated == (i == len(blanks) - 1)
    assert reward == 1.0 and info["verdict"].passed


def test_invalid_moves_lose_by_the_games_own_allowance():
    env = rlenvs.make(ENV, game="GuessTheNumber-v0", reward="dense")
    env.reset(seed=0)
    obs, reward, terminated, _, _ = env.step("no move here")
    assert not terminated and "invalid move" in obs[-1]["content"]
    _, reward, terminated, _, info = env.step("still no move")
    assert terminated and reward == 0.0 and not info["verdict"].passed
    assert "Invalid Move" in info["verdict"].reason


@pytest.mark.parametrize("game", ["Countdown-v0", "Cryptarithm-v0", "ThreeCardMonte-v0"])
def test_games_that_swap_set_invalid_moves_arguments_still_end_with_a_number(game):
    """These 0.7.4 games call set_invalid_move(progress, message): a game lost by invalid moves
    ended with the message as its reward; the env reads the number from the other slot."""
    env = rlenvs.make(ENV, game=game, reward="dense")
    env.reset(seed=1)
    for _ in range(3):
        _, reward, terminated, _, info = env.step("no move at all")
        if terminated:
            break
    assert terminated and isinstance(info["game_reward"], float)
    assert 0.0 <= reward < 1.0 and info["verdict"].reason.startswith("game over: Invalid Move: ")
    assert not any(ch.isdigit() for ch in info["verdict"].reason.split("Invalid Move: ")[1][:3])


def test_dense_reward_is_the_games_partial_outcome():
    env = rlenvs.make(ENV, game="TowerOfHanoi-v0", reward="dense", game_kwargs={"max_turns": 3})
    env.reset(seed=0)
    for move in ["[A C]", "[A B]", "[C B]"]:  # the game checks its limit before counting a move
        assert env.step(move)[2] is False
    _, reward, terminated, _, info = env.step("[A C]")  # disk 3 on C: 1/3 of the way
    assert terminated and reward == pytest.approx(1 / 3) and reward == info["game_reward"]
    assert not info["verdict"].passed


# ------------------------------------------------------------------ seeding and clone

def test_same_seed_same_game_and_the_global_random_is_left_alone():
    random.seed(123)
    expected = [random.random() for _ in range(3)]
    random.seed(123)
    got = [random.random()]
    env = rlenvs.make(ENV, game="2048-v0")
    first = env.reset(seed=9)[0]
    after_a = env.step("[Left]")[0]
    got.append(random.random())
    assert env.reset(seed=9)[0] == first and env.step("[Left]")[0] == after_a  # new tiles too
    got.append(random.random())
    assert got == expected
    boards = {env.reset(seed=s)[0][0]["content"] for s in range(6)}
    assert len(boards) > 1


@pytest.mark.parametrize("game", ["2048-v0", "Minesweeper-v0", "Mastermind-v0", "Blackjack-v0"])
def test_clone_branches_the_game(game):
    env = rlenvs.make(ENV, game=game)
    env.reset(seed=4)
    move = {"2048-v0": "[Up]", "Minesweeper-v0": "[3 3]", "Mastermind-v0": "[1 2 3 4]",
            "Blackjack-v0": "[Hit]"}[game]
    env.step(move)
    twin = env.clone()
    branch = twin.step(move)
    main = env.step(move)
    assert branch[0] == main[0] and branch[1] == main[1]  # same state, same randomness
    other = env.clone()
    other.step("[Stand]" if game == "Blackjack-v0" else "gibberish")
    assert env.unwrapped.episode.messages == main[0]  # a twin's moves leave the original alone


def test_pinned_task_and_errors():
    env = rlenvs.make(ENV, game="GuessTheNumber-v0")
    a = env.reset(options={"task": {"seed": 3}})
    b = env.reset(seed=0, options={"task": {"seed": 3, "game": "GuessTheNumber-v0"}})
    assert a[0] == b[0] and a[1]["task"]["seed"] == 3
    with pytest.raises(ValueError, match="int 'seed'"):
        env.reset(options={"task": {"game": "GuessTheNumber-v0"}})
    with pytest.raises(ValueError, match="make the env with game='Sudoku-v0'"):
        env.reset(options={"task": {"seed": 1, "game": "Sudoku-v0"}})
    with pytest.raises(ValueError, match="Did you mean.*Sudoku-v0"):
        rlenvs.make(ENV, game="Sudok-v0")


def test_rlenvs_list_shows_the_games():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "rlenvs.cli", "list"], capture_output=True,
                         text=True, timeout=120)
    lines = out.stdout.splitlines()
    note = lines[lines.index(ENV) + 1]
    assert re.match(rf"\s+game= one of {len(SINGLE_PLAYER_GAMES)}:", note)
    assert all(g in note for g in SINGLE_PLAYER_GAMES)


@pytest.mark.parametrize("game", ["TowerOfHanoi-v0", "Mastermind-v0"])
def test_the_audit_holds_on_a_game(game):
    report = audit(ENV, episodes=2, env_kwargs={"game": game})
    assert report.episodes_run == 2 and not report.partial and report.kinds == ["open"]
    assert sum(f.tried for f in report.families) > 20
    assert not report.holes, {f.name: f.example for f in report.holes}
