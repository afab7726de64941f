"""A multiplayer pymunk game: every peer steers a puck and shoves crates into the goals.

What it shows: real physics shared by every peer, with rollback. Press an arrow key (or
WASD) to join: your puck appears and you steer it with those keys. More than a hundred
crates and a few gold balls lie on the floor; push them out through the goal mouths in
the left and right walls. The last player to touch a crate scores it when it goes in (a
crate pushed by a crate passes the credit on): 1 point a crate, 5 a gold ball. A scored
crate comes back in the middle of the arena.

How this works: ``self.state`` is an :class:`Arena` holding an
:class:`arcade_p2p.physics.Space` with walls, crates and the players' pucks. Input is a
``"move"`` event whose payload is the bitmask of direction keys held (sent when it
changes); a peer's first valid ``"move"`` creates its puck at the next free spawn point,
so a player appears where everyone agrees, whenever they join. Every tick the pucks steer
toward the velocity their keys ask for, the space steps, and crates past a goal line
score and respawn at places drawn from a small integer generator kept in the state. Who
touched a crate last is recorded by module-level collision handlers (they pickle by
reference, so snapshots can hold them). Drawing reads the state into sprite lists; it
never changes it.

Run two peers on one machine::

    python -m sample_games.physics_arena               # prints: listening on 127.0.0.1:PORT
    python -m sample_games.physics_arena --peer 127.0.0.1:PORT
    python -m sample_games.physics_arena --autopilot 1 # a bot plays for you
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import arcade
import pymunk
from arcade.types import Color

from arcade_p2p.events import Event
from arcade_p2p.physics import Space, new_space
from arcade_p2p.window import SymmetricWindow

__all__ = ["Arena", "PhysicsArena", "Player", "main", "new_arena", "set_keys", "step_arena"]

WIDTH_PX = 960
HEIGHT_PX = 640
HUD_HEIGHT_PX = 44
HELP_HEIGHT_PX = 28
ARENA_LEFT_PX = 50
ARENA_RIGHT_PX = WIDTH_PX - 50
ARENA_BOTTOM_PX = HELP_HEIGHT_PX + 8
ARENA_TOP_PX = HEIGHT_PX - HUD_HEIGHT_PX - 8
ARENA_MIDDLE_Y_PX = (ARENA_BOTTOM_PX + ARENA_TOP_PX) // 2
GOAL_HALF_HEIGHT_PX = 90
WALL_RADIUS_PX = 4.0
DAMPING_PER_S = 0.35
"""Fraction of its velocity a body keeps after one second of sliding (the floor's drag)."""

CRATES = 110
CRATE_COLUMNS = 11
CRATE_SIZE_PX = 18.0
CRATE_SPACING_PX = 26.0
CRATE_MASS_KG = 1.0
GOLD_OFFSETS_PX = ((-220, 0), (220, 0), (-120, 170), (120, 170), (-120, -170), (120, -170))
"""Where the gold balls start, from the centre of the arena."""
GOLD_RADIUS_PX = 10.0
GOLD_MASS_KG = 0.6
CRATE_POINTS = 1
GOLD_POINTS = 5
SPAWN_HALF_WIDTH_PX = 110
"""Scored crates come back within this distance of the centre."""
SHOVE_TICKS = 50
"""A crate touched by a puck this recently passes the credit on to crates it hits."""

PUCK_RADIUS_PX = 18.0
PUCK_MASS_KG = 8.0
PUCK_SPEED_PX_PER_S = 280.0
STEERING_GAIN = 0.25
"""Fraction of the gap to the wanted velocity a puck closes each tick."""
SPAWN_POINTS_PX = (
    (ARENA_LEFT_PX + 120, ARENA_TOP_PX - 80),
    (ARENA_RIGHT_PX - 120, ARENA_BOTTOM_PX + 80),
    (ARENA_RIGHT_PX - 120, ARENA_TOP_PX - 80),
    (ARENA_LEFT_PX + 120, ARENA_BOTTOM_PX + 80),
    (WIDTH_PX // 2, ARENA_TOP_PX - 50),
    (WIDTH_PX // 2, ARENA_BOTTOM_PX + 50),
)
FRICTION = 0.5
ELASTICITY = 0.3
SNAPSHOT_EVERY_TICKS = 25
"""Snapshot period (twice a second): saving ~120 bodies costs as much as dozens of steps."""
SEED = 2026
"""Seed of the state's own randomness (respawn places): the same on every peer."""
LCG_MULTIPLIER = 6364136223846793005
LCG_INCREMENT = 1442695040888963407
LCG_MODULUS = 2**64
"""A 64-bit linear congruential generator (Knuth's MMIX constants): plain ints in the state."""
RECENT_GOALS = 8

WALL_TYPE, PUCK_TYPE, CRATE_TYPE = 1, 2, 3
PUCK_CATEGORY, CRATE_CATEGORY, GOAL_GATE_CATEGORY = 0b001, 0b010, 0b100
NO_ONE = -1
"""``pusher`` of a crate nobody has touched."""

UP, DOWN, LEFT, RIGHT = 1, 2, 4, 8
"""Bits of a ``"move"`` payload."""
ALL_KEYS = UP | DOWN | LEFT | RIGHT
KEY_BITS = {
    arcade.key.UP: UP,
    arcade.key.W: UP,
    arcade.key.DOWN: DOWN,
    arcade.key.S: DOWN,
    arcade.key.LEFT: LEFT,
    arcade.key.A: LEFT,
    arcade.key.RIGHT: RIGHT,
    arcade.key.D: RIGHT,
}
DIAGONAL = math.sqrt(0.5)

TITLE = "Physics Arena"
HELP = (
    "arrows / WASD: move (press one to join)  ·  shove crates out through a goal  ·  "
    "last touch scores: crate 1, gold 5"
)
FLOOR_COLOR = Color(34, 40, 49)
WALL_COLOR = Color(200, 205, 215)
GOAL_COLOR = Color(60, 90, 70)
LINE_COLOR = Color(52, 60, 72)
WHITE = Color(255, 255, 255)
"""Texture colour of tinted sprites (a sprite's colour multiplies its texture)."""
HUD_COLOR = Color(22, 26, 32)
TEXT_COLOR = Color(235, 235, 235)
CRATE_COLOR = Color(176, 140, 96)
GOLD_COLOR = Color(255, 200, 40)
PLAYER_COLORS = (
    Color(255, 99, 72),
    Color(72, 160, 255),
    Color(120, 220, 90),
    Color(240, 110, 220),
    Color(255, 170, 50),
    Color(90, 220, 210),
)
TINT = 0.55
"""How strongly a crate shows the colour of the last player who touched it."""
GOAL_FLASH_TICKS = 60

AUTOPILOT_DECIDE_CHANCE = 0.15
"""Chance per frame that the bot rethinks which keys to hold."""
AUTOPILOT_WANDER_CHANCE = 0.15
"""Chance that a rethink holds random keys instead of chasing a crate."""
AUTOPILOT_BEHIND_PX = 30.0
"""The bot lines up this far behind a crate (seen from the goal) before it shoves."""
AUTOPILOT_DEAD_ZONE_PX = 12.0


@dataclass
class Player:
    """One peer's puck.

    Attributes:
        source: The peer's id.
        slot: Join order (picks colour and spawn point).
        keys: Direction bits currently held.
        score: Points.
        body: The puck's body in the space.
    """

    source: int
    slot: int
    keys: int
    score: int
    body: pymunk.Body


@dataclass
class Arena:
    """The whole simulation state.

    Attributes:
        space: The pymunk world; ``space.tick`` counts ticks (collision handlers read it).
        crates: Crate and gold-ball bodies, in a fixed order (scored ones respawn).
        players: Players by peer id, in join order.
        rng: State of the generator of respawn places (an int, so every peer agrees and
            snapshots stay plain data).
        goals: The latest goals as ``[tick, source, points, side]`` (side -1 left, 1 right).
    """

    space: Space
    crates: list[pymunk.Body]
    players: dict[int, Player] = field(default_factory=dict)
    rng: int = SEED
    goals: list[list[int]] = field(default_factory=list)


# ---------------------------------------------------------------- collision handlers
def touch_crate(arbiter: pymunk.Arbiter, space: pymunk.Space, data: Any) -> bool:
    """A puck touches a crate: the crate's pusher is now the puck's owner."""
    puck, crate = (shape.body for shape in arbiter.shapes)
    crate.pusher = puck.owner
    crate.touched_at = space.tick  # type: ignore[attr-defined]
    return True


def pass_touch(arbiter: pymunk.Arbiter, space: pymunk.Space, data: Any) -> bool:
    """Two crates meet: one shoved moments ago passes its pusher on to the other."""
    a, b = (shape.body for shape in arbiter.shapes)
    if a.touched_at < b.touched_at:
        a, b = b, a
    if a.touched_at > b.touched_at and space.tick - a.touched_at <= SHOVE_TICKS:  # type: ignore[attr-defined]
        b.pusher, b.touched_at = a.pusher, a.touched_at
    return True


# ---------------------------------------------------------------- the simulation
def new_arena() -> Arena:
    """The initial state: walls with two goal mouths, crates in a block, gold balls."""
    space = new_space(iterations=8, damping=DAMPING_PER_S)
    space.tick = 0  # type: ignore[attr-defined]  # a custom attribute, pickled too
    _add_walls(space)
    space.add_collision_handler(PUCK_TYPE, CRATE_TYPE).begin = touch_crate
    space.add_collision_handler(CRATE_TYPE, CRATE_TYPE).begin = pass_touch
    crates = []
    rows = CRATES // CRATE_COLUMNS
    for index in range(CRATES):
        column, row = index % CRATE_COLUMNS, index // CRATE_COLUMNS
        x = WIDTH_PX / 2 + (column - (CRATE_COLUMNS - 1) / 2) * CRATE_SPACING_PX
        y = ARENA_MIDDLE_Y_PX + (row - (rows - 1) / 2) * CRATE_SPACING_PX
        crates.append(_add_crate(space, x, y, gold=False))
    for dx, dy in GOLD_OFFSETS_PX:
        crates.append(_add_crate(space, WIDTH_PX // 2 + dx, ARENA_MIDDLE_Y_PX + dy, gold=True))
    return Arena(space, crates)


def _add_walls(space: Space) -> None:
    left, right, bottom, top = ARENA_LEFT_PX, ARENA_RIGHT_PX, ARENA_BOTTOM_PX, ARENA_TOP_PX
    low, high = ARENA_MIDDLE_Y_PX - GOAL_HALF_HEIGHT_PX, ARENA_MIDDLE_Y_PX + GOAL_HALF_HEIGHT_PX
    walls = [
        ((left, bottom), (right, bottom)),
        ((left, top), (right, top)),
        ((left, bottom), (left, low)),
        ((left, high), (left, top)),
        ((right, bottom), (right, low)),
        ((right, high), (right, top)),
    ]
    for start, end in walls:
        wall = pymunk.Segment(space.static_body, start, end, WALL_RADIUS_PX)
        wall.friction, wall.elasticity, wall.collision_type = FRICTION, ELASTICITY, WALL_TYPE
        space.add(wall)
    for x in (left, right):  # goal gates: pucks cannot leave the arena, crates can
        gate = pymunk.Segment(space.static_body, (x, low), (x, high), WALL_RADIUS_PX)
        gate.filter = pymunk.ShapeFilter(categories=GOAL_GATE_CATEGORY, mask=PUCK_CATEGORY)
        space.add(gate)


def _add_crate(space: Space, x: float, y: float, *, gold: bool) -> pymunk.Body:
    if gold:
        body = pymunk.Body(GOLD_MASS_KG, pymunk.moment_for_circle(GOLD_MASS_KG, 0, GOLD_RADIUS_PX))
        shape: pymunk.Shape = pymunk.Circle(body, GOLD_RADIUS_PX)
    else:
        size = (CRATE_SIZE_PX, CRATE_SIZE_PX)
        body = pymunk.Body(CRATE_MASS_KG, pymunk.moment_for_box(CRATE_MASS_KG, size))
        shape = pymunk.Poly.create_box(body, size, radius=1.0)
    body.position = (x, y)
    body.points = GOLD_POINTS if gold else CRATE_POINTS
    body.pusher = NO_ONE
    body.touched_at = -1
    shape.friction, shape.elasticity, shape.collision_type = FRICTION, ELASTICITY, CRATE_TYPE
    shape.filter = pymunk.ShapeFilter(
        categories=CRATE_CATEGORY, mask=pymunk.ShapeFilter.ALL_MASKS() ^ GOAL_GATE_CATEGORY
    )
    space.add(body, shape)
    return body


def _add_player(arena: Arena, source: int) -> Player:
    slot = len(arena.players)
    x, y = SPAWN_POINTS_PX[slot % len(SPAWN_POINTS_PX)]
    body = pymunk.Body(PUCK_MASS_KG, math.inf)  # infinite moment: a puck never spins
    body.position = (x, y)
    body.owner = source
    shape = pymunk.Circle(body, PUCK_RADIUS_PX)
    shape.friction, shape.elasticity, shape.collision_type = FRICTION, ELASTICITY, PUCK_TYPE
    shape.filter = pymunk.ShapeFilter(categories=PUCK_CATEGORY)
    arena.space.add(body, shape)
    player = Player(source, slot, 0, 0, body)
    arena.players[source] = player
    return player


def set_keys(arena: Arena, source: int, keys: int) -> None:
    """Apply a ``"move"``: the peer's puck (created on its first move) now holds ``keys``."""
    player = arena.players.get(source) or _add_player(arena, source)
    player.keys = keys


def step_arena(arena: Arena, delta_time: float) -> None:
    """One tick: steer the pucks, step the space, score and respawn crates past a goal."""
    space = arena.space
    space.tick += 1  # type: ignore[attr-defined]
    for player in arena.players.values():
        body = player.body
        want_x, want_y = _wanted_velocity(player.keys)
        vx, vy = body.velocity
        body.velocity = (
            vx + (want_x - vx) * STEERING_GAIN,
            vy + (want_y - vy) * STEERING_GAIN,
        )
    space.step(delta_time)
    for body in arena.crates:
        x, y = body.position
        if ARENA_LEFT_PX <= x <= ARENA_RIGHT_PX and ARENA_BOTTOM_PX <= y <= ARENA_TOP_PX:
            continue
        scorer = arena.players.get(body.pusher)
        if scorer is not None and abs(y - ARENA_MIDDLE_Y_PX) <= GOAL_HALF_HEIGHT_PX:
            scorer.score += body.points
            side = -1 if x < ARENA_LEFT_PX else 1
            arena.goals.append([space.tick, scorer.source, body.points, side])  # type: ignore[attr-defined]
            del arena.goals[:-RECENT_GOALS]
        _respawn(arena, body)


def _wanted_velocity(keys: int) -> tuple[float, float]:
    dx = (1 if keys & RIGHT else 0) - (1 if keys & LEFT else 0)
    dy = (1 if keys & UP else 0) - (1 if keys & DOWN else 0)
    speed = PUCK_SPEED_PX_PER_S * (DIAGONAL if dx and dy else 1.0)
    return dx * speed, dy * speed


def _respawn(arena: Arena, body: pymunk.Body) -> None:
    spread = 2 * SPAWN_HALF_WIDTH_PX
    body.position = (
        WIDTH_PX / 2 - SPAWN_HALF_WIDTH_PX + _draw(arena, spread),
        ARENA_MIDDLE_Y_PX - SPAWN_HALF_WIDTH_PX + _draw(arena, spread),
    )
    body.velocity = (0.0, 0.0)
    body.angular_velocity = 0.0
    body.angle = 0.0
    body.pusher = NO_ONE
    body.touched_at = -1
    arena.space.reindex_shapes_for_body(body)


def _draw(arena: Arena, below: int) -> int:
    """The state's next random whole number in ``0 .. below - 1``."""
    arena.rng = (arena.rng * LCG_MULTIPLIER + LCG_INCREMENT) % LCG_MODULUS
    return (arena.rng >> 32) % below


def _is_keys(payload: Any) -> bool:
    """Whether a payload is a direction bitmask (a remote peer may send anything)."""
    return type(payload) is int and 0 <= payload <= ALL_KEYS


# ---------------------------------------------------------------- the window
class PhysicsArena(SymmetricWindow):
    """Pucks and crates shared by every peer: arrows/WASD to move, goals to score."""

    WIDTH_PX = WIDTH_PX
    HEIGHT_PX = HEIGHT_PX
    CONFIG = dataclasses.replace(SymmetricWindow.CONFIG, snapshot_every_ticks=SNAPSHOT_EVERY_TICKS)
    STATE_FUNCTIONS = (touch_crate, pass_touch)  # collision handlers a snapshot refers to

    state: Arena
    _held = 0
    """The direction keys held now (a class default, so that the simulator's window-less
    copy of the game has it too: ``arcade-p2p sim --app physics``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("title", TITLE)
        super().__init__(*args, **kwargs)
        self.background_color = HUD_COLOR
        self._floor = _floor_shapes()
        self._crate_sprites: arcade.SpriteList[arcade.Sprite] = arcade.SpriteList()
        self._crate_colors: list[Color] = []
        self._puck_sprites: arcade.SpriteList[arcade.Sprite] = arcade.SpriteList()
        self._title = arcade.Text(TITLE, 14, HEIGHT_PX - 30, TEXT_COLOR, 18, bold=True)
        self._help = arcade.Text(HELP, 14, 9, TEXT_COLOR, 10)
        self._scores: list[arcade.Text] = []
        self._flash = arcade.Text("", 0, 0, TEXT_COLOR, 16, anchor_x="center", bold=True)

    # ------------------------------------------------------------ simulation
    def on_start(self) -> None:
        self.state = new_arena()

    def on_update(self, delta_time: float) -> None:
        step_arena(self.state, delta_time)

    def on_event(self, event: Event) -> None:
        if event.name == "move" and _is_keys(event.payload):
            set_keys(self.state, event.source, event.payload)

    # ------------------------------------------------------------ drawing
    def on_draw(self) -> None:
        self.clear()
        arena = self.state
        self._floor.draw()
        self._draw_crates(arena)
        self._draw_pucks(arena)
        self._draw_hud(arena)

    def _draw_crates(self, arena: Arena) -> None:
        sprites = self._crate_sprites
        if len(sprites) != len(arena.crates):
            sprites.clear()
            self._crate_colors = [CRATE_COLOR] * len(arena.crates)
            for body in arena.crates:
                if body.points == GOLD_POINTS:
                    sprite: arcade.Sprite = arcade.SpriteCircle(int(GOLD_RADIUS_PX), WHITE)
                else:
                    sprite = arcade.SpriteSolidColor(
                        int(CRATE_SIZE_PX), int(CRATE_SIZE_PX), color=CRATE_COLOR
                    )
                sprites.append(sprite)
        colours = {
            p.source: PLAYER_COLORS[p.slot % len(PLAYER_COLORS)] for p in arena.players.values()
        }
        for index, (sprite, body) in enumerate(zip(sprites, arena.crates)):
            sprite.position = tuple(body.position)
            sprite.angle = -math.degrees(body.angle)
            colour = GOLD_COLOR if body.points == GOLD_POINTS else _tinted(colours.get(body.pusher))
            if colour != self._crate_colors[index]:  # setting a colour is slow: only changes
                sprite.color = self._crate_colors[index] = colour
        sprites.draw()

    def _draw_pucks(self, arena: Arena) -> None:
        sprites = self._puck_sprites
        players = list(arena.players.values())
        if len(sprites) != len(players):
            sprites.clear()
            for player in players:
                colour = PLAYER_COLORS[player.slot % len(PLAYER_COLORS)]
                sprites.append(arcade.SpriteCircle(int(PUCK_RADIUS_PX), colour))
        for sprite, player in zip(sprites, players):
            sprite.position = tuple(player.body.position)
        sprites.draw()
        me = arena.players.get(self.session.peer_id)
        if me is not None:
            x, y = me.body.position
            arcade.draw_circle_outline(x, y, PUCK_RADIUS_PX + 4, TEXT_COLOR, 2)

    def _draw_hud(self, arena: Arena) -> None:
        self._title.draw()
        self._help.draw()
        players = list(arena.players.values())
        while len(self._scores) < len(players):
            self._scores.append(arcade.Text("", 0, 0, TEXT_COLOR, 14, bold=True))
        x = WIDTH_PX - 14
        for text, player in zip(self._scores, reversed(players)):
            text.text = f"{self._name(player)}  {player.score}"
            x -= text.content_width
            text.x, text.y = x, HEIGHT_PX - 30
            text.draw()
            arcade.draw_circle_filled(
                x - 14, HEIGHT_PX - 24, 8, PLAYER_COLORS[player.slot % len(PLAYER_COLORS)]
            )
            x -= 40
        if not players:
            text = self._flash
            text.text = "press an arrow key to join"
            text.x, text.y = WIDTH_PX / 2, ARENA_TOP_PX - 40
            text.draw()
        tick = arena.space.tick  # type: ignore[attr-defined]
        for goal_tick, source, points, side in arena.goals:
            scorer = arena.players.get(source)
            if scorer is None or tick - goal_tick > GOAL_FLASH_TICKS:
                continue
            text = self._flash
            text.text = f"+{points} {self._name(scorer)}"
            text.x = ARENA_LEFT_PX + 70 if side < 0 else ARENA_RIGHT_PX - 70
            text.y = ARENA_MIDDLE_Y_PX + GOAL_HALF_HEIGHT_PX + 20 + (tick - goal_tick) // 2
            text.draw()

    def _name(self, player: Player) -> str:
        return "you" if player.source == self.session.peer_id else f"P{player.slot + 1}"

    # ------------------------------------------------------------ local input
    def on_key_press(self, symbol: int, modifiers: int) -> None:
        if symbol in KEY_BITS:
            self._hold(self._held | KEY_BITS[symbol])

    def on_key_release(self, symbol: int, modifiers: int) -> None:
        if symbol in KEY_BITS:
            self._hold(self._held & ~KEY_BITS[symbol])

    def _hold(self, keys: int) -> None:
        """Broadcast the held direction keys when they change (the first press joins)."""
        joined = self.state is not None and self.session.peer_id in self.state.players
        if keys != self._held or not joined:
            self._held = keys
            self.broadcast("move", keys)

    # ------------------------------------------------------------ autopilot
    def autopilot(self, rng: random.Random) -> None:
        """A bot: line up behind the nearest crate, seen from its nearest goal, and shove."""
        if rng.random() >= AUTOPILOT_DECIDE_CHANCE:
            return
        me = self.state.players.get(self.session.peer_id)
        if me is None or rng.random() < AUTOPILOT_WANDER_CHANCE:
            self._hold(rng.randint(1, ALL_KEYS))
            return
        self._hold(_chase(me.body.position, self.state.crates))


def _floor_shapes() -> arcade.shape_list.ShapeElementList[arcade.shape_list.Shape]:
    """The arena's floor, walls and goals, built once (they never move)."""
    left, right, bottom, top = ARENA_LEFT_PX, ARENA_RIGHT_PX, ARENA_BOTTOM_PX, ARENA_TOP_PX
    low, high = ARENA_MIDDLE_Y_PX - GOAL_HALF_HEIGHT_PX, ARENA_MIDDLE_Y_PX + GOAL_HALF_HEIGHT_PX
    middle_x = WIDTH_PX // 2
    shapes = arcade.shape_list
    floor: shapes.ShapeElementList[shapes.Shape] = shapes.ShapeElementList()
    floor.append(
        shapes.create_rectangle_filled(
            middle_x, ARENA_MIDDLE_Y_PX, right - left, top - bottom, FLOOR_COLOR
        )
    )
    for x in (left / 2, (right + WIDTH_PX) / 2):
        floor.append(
            shapes.create_rectangle_filled(x, ARENA_MIDDLE_Y_PX, left, high - low, GOAL_COLOR)
        )
    floor.append(
        shapes.create_ellipse_outline(middle_x, ARENA_MIDDLE_Y_PX, 280, 280, LINE_COLOR, 3)
    )
    floor.append(shapes.create_line(middle_x, bottom, middle_x, top, LINE_COLOR, 3))
    wall_width = 2 * WALL_RADIUS_PX
    for x in (left, right):
        floor.append(shapes.create_line(x, bottom, x, low, WALL_COLOR, wall_width))
        floor.append(shapes.create_line(x, high, x, top, WALL_COLOR, wall_width))
        floor.append(shapes.create_line(x, low, x, high, GOLD_COLOR, 2))
    for y in (bottom, top):
        floor.append(
            shapes.create_line(
                left - WALL_RADIUS_PX, y, right + WALL_RADIUS_PX, y, WALL_COLOR, wall_width
            )
        )
    return floor


def _chase(position: tuple[float, float], crates: Sequence[pymunk.Body]) -> int:
    """Keys that take a puck at ``position`` behind the nearest crate, then through it."""
    x, y = position
    crate = min(crates, key=lambda body: (body.position.x - x) ** 2 + (body.position.y - y) ** 2)
    cx, cy = crate.position
    goal_x = ARENA_LEFT_PX if cx < WIDTH_PX / 2 else ARENA_RIGHT_PX
    away_x, away_y = cx - goal_x, cy - ARENA_MIDDLE_Y_PX
    norm = math.hypot(away_x, away_y) or 1.0
    behind_x = cx + away_x / norm * AUTOPILOT_BEHIND_PX
    behind_y = cy + away_y / norm * AUTOPILOT_BEHIND_PX
    if math.hypot(behind_x - x, behind_y - y) > AUTOPILOT_BEHIND_PX:
        target_x, target_y = behind_x, behind_y
    else:
        target_x, target_y = goal_x, ARENA_MIDDLE_Y_PX
    keys = 0
    if target_x > x + AUTOPILOT_DEAD_ZONE_PX:
        keys |= RIGHT
    elif target_x < x - AUTOPILOT_DEAD_ZONE_PX:
        keys |= LEFT
    if target_y > y + AUTOPILOT_DEAD_ZONE_PX:
        keys |= UP
    elif target_y < y - AUTOPILOT_DEAD_ZONE_PX:
        keys |= DOWN
    return keys


def _tinted(colour: Color | None) -> Color:
    """A crate's colour: wood, leaning toward the colour of its last pusher."""
    if colour is None:
        return CRATE_COLOR
    r, g, b = (round(c + (p - c) * TINT) for c, p in zip(CRATE_COLOR[:3], colour[:3]))
    return Color(r, g, b)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the arena from the command line (see ``--help``)."""
    PhysicsArena.main(argv)


if __name__ == "__main__":
    main()
