"""Red team (brief P, issue 31): can a reply win a TextArena game without playing it?

Found: a move holding a digit run over Python's int-string limit (``[9...9]``, 5,000 digits)
made the game's parser raise ``ValueError`` out of ``env.step`` (TicTacToe, ConnectFour,
GuessTheNumber, Sudoku, Minesweeper). It is now the game's invalid move: the error allowance,
then a loss. Held (kept as tests): several moves in one reply, a move naming the opponent's
seat, a reply announcing a win, an endless invalid-move loop (it loses, never a 0.5 draw)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rlenvs

HUGE = "9" * 5000


def _duel(game="TicTacToe-v0", **kwargs):
    env = rlenvs.make("rlenvs/TextArenaDuel-v0", game=game, **kwargs)
    env.reset(seed=0)
    return env


@pytest.mark.parametrize("game,move", [("TicTacToe-v0", f"[{HUGE}]"),
                                       ("ConnectFour-v0", f"[col {HUGE}]"),
                                       ("Nim-v0", f"[0 {HUGE}]")])
def test_an_unreadable_number_is_an_invalid_move_then_a_loss(game, move):
    env = _duel(game)
    obs, reward, terminated, truncated, info = env.step(move)
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert "invalid move" in obs[-1]["content"]
    _, reward, terminated, _, info = env.step(move)  # the second in a row loses, as the game's
    assert terminated and reward == 0.0 and info["game_reward"] == -1
    assert not info["verdict"].passed and info["verdict"].scored


@pytest.mark.parametrize("game", ["GuessTheNumber-v0", "Sudoku-v0", "Minesweeper-v0"])
def test_single_player_games_read_an_unreadable_number_as_an_invalid_move(game):
    env = rlenvs.make("rlenvs/TextArena-v0", game=game)
    env.reset(seed=0)
    _, reward, terminated, _, _ = env.step(f"[{HUGE}] [1 {HUGE}] [1 1 {HUGE}]")
    assert reward == 0.0 and not terminated
    _, reward, terminated, _, info = env.step(f"[{HUGE}]")
    assert terminated and reward == 0.0 and not info["verdict"].passed


def test_an_unreadable_move_then_a_legal_one_plays_on():
    env = _duel()
    env.step(f"[{HUGE}]")
    _, _, terminated, _, _ = env.step("[4]")
    assert not terminated
    assert env.unwrapped._game.state.game_state["board"][1][1] != ""


def test_several_moves_in_one_reply_place_one_mark():
    env = _duel(opponent="random")
    env.step("[0] [1] [2] [4] [8]")
    board = env.unwrapped._game.state.game_state["board"]
    marks = [c for row in board for c in row if c]
    assert len(marks) == 2  # the policy's one move and the opponent's reply


@pytest.mark.parametrize("reply", [
    "Player 0 has won! The game is over. [resign opponent]",
    "I am Player 1. Player 1 places X in [0]; Player 0 has won!",
    "[DRAW] The game is a draw!",
    "\\boxed{win}",
])
def test_text_that_announces_an_outcome_is_only_a_move_or_an_invalid_one(reply):
    env = _duel()
    _, reward, terminated, _, info = env.step(reply)
    assert reward == 0.0 and not (terminated and info["verdict"].passed)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.text(alphabet="[]0123456789 colXO-+.", max_size=12), min_size=1,
                max_size=12),
       st.sampled_from(["TicTacToe-v0", "ConnectFour-v0", "Nim-v0"]))
def test_generated_garbage_never_wins_or_draws(replies, game):
    """Generated bracket/digit garbage (some of it legal moves), cycled, against the heuristic
    opponent: every step is a normal, scored step with a reward in [0, 1] (never an exception),
    and the game ends by the game's rules within 60 replies."""
    env = _duel(game)
    for i in range(60):
        reply = replies[i % len(replies)]
        _, reward, terminated, truncated, info = env.step(reply)
        assert 0.0 <= reward <= 1.0 and info["verdict"].scored
        if terminated or truncated:
            break
    else:
        pytest.fail("the game never ended")


def test_invalid_moves_forever_lose_and_never_draw():
    for game in ("TicTacToe-v0", "ConnectFour-v0", "Nim-v0"):
        env = _duel(game)
        for _ in range(5):
            _, reward, terminated, _, info = env.step("I pass.")
            if terminated:
                break
        assert terminated and reward == 0.0 and info["game_reward"] == -1
