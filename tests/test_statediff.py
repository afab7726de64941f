"""diff_states: field paths into a state, with both values, for plain data and pymunk."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from typing import Any

import pymunk

from arcade_p2p.physics import new_space
from arcade_p2p.statediff import MISSING, FieldDiff, diff_states


@dataclass
class Ball:
    x: float
    y: float


@dataclass
class Game:
    balls: list[Ball] = field(default_factory=list)
    scores: dict[str, int] = field(default_factory=dict)
    tags: set[int] = field(default_factory=set)


class Slotted:
    __slots__ = ("hp", "name")

    def __init__(self, hp: int, name: str) -> None:
        self.hp = hp
        self.name = name


class Node:
    def __init__(self, value: int) -> None:
        self.value = value
        self.next: Node | None = None


def game(**changes: Any) -> Game:
    state = Game([Ball(1.0, 2.0), Ball(3.0, 4.0)], {"red": 1, "blue": 2}, {1, 2})
    for name, value in changes.items():
        setattr(state, name, value)
    return state


def paths(diffs: list[FieldDiff]) -> list[str]:
    return [d.path for d in diffs]


def test_equal_states_have_no_diff() -> None:
    assert diff_states(game(), game()) == []
    assert diff_states(game(), pickle.loads(pickle.dumps(game()))) == []


def test_a_nested_field_is_named_by_its_path_with_both_values() -> None:
    b = game()
    b.balls[1].x = 3.5
    assert diff_states(game(), b) == [FieldDiff("state.balls[1].x", 3.0, 3.5)]


def test_floats_compare_bit_for_bit() -> None:
    assert paths(diff_states(Ball(0.0, 1.0), Ball(-0.0, 1.0), root="ball")) == ["ball.x"]
    nan = float("nan")
    assert diff_states(Ball(nan, 1.0), Ball(nan, 1.0)) == []
    assert diff_states(Ball(1.0, 2.0), Ball(1.0, 2.0 + 1e-15))[0].path == "state.y"


def test_dict_keys_missing_on_either_side_and_changed_values() -> None:
    diffs = diff_states(game(), game(scores={"red": 5, "green": 0}))
    assert [(d.path, d.a, d.b, d.kind) for d in diffs] == [
        ("state.scores['red']", 1, 5, "value"),
        ("state.scores['blue']", 2, MISSING, "missing"),
        ("state.scores['green']", MISSING, 0, "missing"),
    ]


def test_dict_and_set_order_is_a_difference_of_its_own() -> None:
    diffs = diff_states(game(scores={"a": 1, "b": 2}), game(scores={"b": 2, "a": 1}))
    assert [(d.path, d.kind, d.a, d.b) for d in diffs] == [
        ("state.scores", "order", ["a", "b"], ["b", "a"])
    ]
    a, b = game(tags=set([1, 9])), game(tags=set([9, 1]))  # 1 and 9 collide: insertion order
    assert list(a.tags) != list(b.tags)
    assert [(d.path, d.kind) for d in diff_states(a, b)] == [("state.tags", "order")]
    assert diff_states(game(tags={1, 2}), game(tags={2, 3})) == [FieldDiff("state.tags", [1], [3])]


def test_lists_of_other_length_report_the_length_and_the_common_part() -> None:
    b = game()
    b.balls.append(Ball(5.0, 6.0))
    b.balls[0].y = 0.0
    diffs = diff_states(game(), b)
    assert [(d.path, d.a, d.b, d.kind) for d in diffs] == [
        ("state.balls", 2, 3, "length"),
        ("state.balls[0].y", 2.0, 0.0, "value"),
    ]


def test_types_slots_and_cycles() -> None:
    assert diff_states(game(), game(balls=(1, 2)))[0].kind == "type"
    assert diff_states(Slotted(3, "orc"), Slotted(2, "orc"), root="npc") == [
        FieldDiff("npc.hp", 3, 2)
    ]
    a, b = Node(1), Node(1)
    a.next, b.next = a, b  # cycles end the walk instead of recursing forever
    assert diff_states(a, b) == []
    b.value = 2
    assert paths(diff_states(a, b)) == ["state.value"]


def test_max_diffs_bounds_the_result() -> None:
    a = [Ball(float(i), 0.0) for i in range(50)]
    b = [Ball(float(i) + 0.5, 1.0) for i in range(50)]
    assert len(diff_states(a, b)) == 100
    assert len(diff_states(a, b, max_diffs=7)) == 7


def build_world(nudge: float = 0.0) -> dict[str, Any]:
    space = new_space((0.0, -900.0))
    balls = []
    for i in range(3):
        body = pymunk.Body(1.0, pymunk.moment_for_circle(1.0, 0, 5))
        body.position = (10.0 * i, 50.0)
        space.add(body, pymunk.Circle(body, 5))
        balls.append(body)
    balls[2].velocity = (nudge, 0.0)
    return {"space": space, "balls": balls}


def test_pymunk_bodies_by_index_and_property() -> None:
    a, b = build_world(), build_world(nudge=2.5)
    for _ in range(5):
        a["space"].step(0.02)
        b["space"].step(0.02)
    diffs = diff_states(a, b)
    assert diffs[0].path == "state['space'].bodies[2].position.x"
    assert "state['space'].bodies[2].velocity.x" in paths(diffs)
    assert all(".bodies[2]." in d.path or ".shapes[" in d.path for d in diffs)
    assert diff_states(build_world(), pickle.loads(pickle.dumps(build_world()))) == []


def count(arbiter: pymunk.Arbiter, space: pymunk.Space, data: Any) -> bool:
    return True


def other(arbiter: pymunk.Arbiter, space: pymunk.Space, data: Any) -> bool:
    return True


def test_collision_handlers_compare_by_name() -> None:
    a, b = build_world(), build_world()
    a["space"].add_collision_handler(1, 2).begin = count
    b["space"].add_collision_handler(1, 2).begin = other
    [diff] = diff_states(a, b)
    assert diff.path == "state['space'].handlers[(1, 2)]['begin']"
    assert (diff.a, diff.b) == (f"{__name__}.count", f"{__name__}.other")


def test_json_form_keeps_scalars_and_reprs_the_rest() -> None:
    diffs = diff_states(game(), game(balls=[Ball(1.0, 2.0)], scores={"red": 1}))
    encoded = json.loads(json.dumps([d.to_json() for d in diffs]))
    assert encoded[0] == {"path": "state.balls", "a": 2, "b": 1, "kind": "length"}
    assert encoded[1] == {
        "path": "state.scores['blue']",
        "a": 2,
        "b": "<missing>",
        "kind": "missing",
    }
    assert FieldDiff("p", float("inf"), Ball(0, 0)).to_json()["a"] == "inf"
    assert str(FieldDiff("state.x", 1, 2)) == "state.x: 1 != 2"
