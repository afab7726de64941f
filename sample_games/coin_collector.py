"""Arcade's "Sprite Collect Coins" example, ported to a shared game: race for the coins.

What it shows (the port is walked through in docs/guides/porting.md): the original
``arcade.examples.sprite_collect_coins`` is one ``GameView(arcade.View)`` that moves a
player sprite to the mouse and removes the coin sprites it touches. Here:

* the game view is a :class:`~arcade_p2p.SharedView`: its ``on_start``/``on_update``/
  ``on_event`` are the shared simulation, and ``self.state`` (a :class:`CoinField`)
  holds plain integers only -- coin positions by id, one :class:`Player` per peer;
* a local :class:`MenuView` (a plain ``arcade.View``) is shown first; the game runs on
  underneath it, so a peer in the menu sees the others' scores when it comes in;
* ``on_draw`` rebuilds the sprites from the state through a
  :class:`~arcade_p2p.drawing.SpriteCache` keyed by id;
* collisions use :mod:`arcade_p2p.geometry` (integer circle-against-box), not sprites;
* mouse motion is coalesced to :data:`AIM_RATE_HZ` ``"aim"`` events a second, and each
  player walks toward its latest aim at :data:`PLAYER_SPEED_PX` per tick, so an aim that
  arrives late moves a player by a few pixels, not across the screen.

Every peer in the room races: its player appears at the spawn point when the peer arrives
(``on_peer_join``, at the same tick on every peer) and disappears when it leaves
(``on_peer_leave``: it closed its window, or its neighbours noticed it gone). A new wave of
coins is scattered (from the integer random generator in the state) when the last coin is
taken.

Run two peers on one machine (click in the menu, then move the mouse)::

    python -m sample_games.coin_collector                 # prints: listening on 127.0.0.1:PORT
    python -m sample_games.coin_collector --peer 127.0.0.1:PORT
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import arcade

from arcade_p2p import Event, SharedView, SymmetricWindow
from arcade_p2p.drawing import SpriteCache
from arcade_p2p.geometry import Box, circle_hits_box, clamp, step_toward

__all__ = [
    "CoinCollector",
    "CoinField",
    "CoinGameView",
    "Dice",
    "MenuView",
    "Player",
    "main",
]

WIDTH_PX = 800
HEIGHT_PX = 600
COINS_PER_WAVE = 30
COIN_RADIUS_PX = 20
PLAYER_WIDTH_PX = 44
PLAYER_HEIGHT_PX = 60
PLAYER_SPEED_PX = 9
"""How far a player walks toward its aim per tick (450 px/s at 50 ticks/s)."""
SPAWN = (50, 50)
"""Where a player appears, like the original's sprite."""
MARGIN_PX = 30
"""Coins keep this far from the edges."""
FIELD_SEED = 20261125
LCG_MULTIPLIER = 6364136223846793005
LCG_INCREMENT = 1442695040888963407
LCG_MASK = (1 << 64) - 1
LCG_SHIFT = 33
"""The high bits of an LCG are the random-looking ones."""
AIM_RATE_HZ = 20.0
"""Most ``"aim"`` events a peer sends per second (mouse motion fires far more often)."""

COIN_TEXTURE = ":resources:images/items/coinGold.png"
COIN_SCALE = 0.4
OWN_TEXTURE = ":resources:images/animated_characters/female_person/femalePerson_idle.png"
OTHER_TEXTURE = ":resources:images/animated_characters/male_person/malePerson_idle.png"
PLAYER_SCALE = 0.5
BACKGROUND_COLOR = arcade.color.AMAZON
TEXT_COLOR = arcade.color.WHITE
SCORE_FONT_SIZE_PT = 14
TITLE_FONT_SIZE_PT = 32
BLINK_PERIOD_S = 1.0


@dataclass
class Player:
    """One peer's player: where it is, where it walks to, what it collected."""

    x: int
    y: int
    aim_x: int
    aim_y: int
    score: int = 0

    def box(self) -> Box:
        """The player's hit box, the size of its sprite."""
        return Box(self.x, self.y, PLAYER_WIDTH_PX, PLAYER_HEIGHT_PX)


@dataclass
class Dice:
    """A random generator made of one integer, so it lives (and rolls back) in the state.

    ``random.Random`` cannot be in a shared state (peers refuse to load its class), so
    this is a 64-bit linear congruential generator: plain integer arithmetic, the same
    on every peer.
    """

    seed: int

    def below(self, bound: int) -> int:
        """A number in ``0 .. bound - 1``."""
        self.seed = (self.seed * LCG_MULTIPLIER + LCG_INCREMENT) & LCG_MASK
        return (self.seed >> LCG_SHIFT) % bound


@dataclass
class CoinField:
    """The whole shared state: coins by id, players by peer id, and the coin generator."""

    dice: Dice
    coins: dict[int, tuple[int, int]] = field(default_factory=dict)
    players: dict[int, Player] = field(default_factory=dict)
    next_coin_id: int = 0
    wave: int = 0

    def scatter(self) -> None:
        """Place a new wave of coins, from the generator in the state."""
        self.wave += 1
        for _ in range(COINS_PER_WAVE):
            x = MARGIN_PX + self.dice.below(WIDTH_PX - 2 * MARGIN_PX)
            y = MARGIN_PX + self.dice.below(HEIGHT_PX - 2 * MARGIN_PX)
            self.coins[self.next_coin_id] = (x, y)
            self.next_coin_id += 1


def aim_point(payload: Any) -> tuple[int, int] | None:
    """The point an ``"aim"`` payload asks for, inside the field; None if malformed."""
    if not (isinstance(payload, list) and len(payload) == 2):
        return None
    x, y = payload
    if type(x) is not int or type(y) is not int:
        return None
    return clamp(x, 0, WIDTH_PX), clamp(y, 0, HEIGHT_PX)


class CoinGameView(SharedView):
    """The race itself: the original ``GameView``, with its logic made shared."""

    state: CoinField  # (None in on_draw until on_start has run at tick 0)

    def __init__(self, window: SymmetricWindow) -> None:
        super().__init__(window)
        self.aim = window.coalesce("aim", AIM_RATE_HZ)
        self.menu: arcade.View | None = None
        self.coin_sprites: SpriteCache[int] = SpriteCache(self._coin_sprite)
        self.player_sprites: SpriteCache[int] = SpriteCache(self._player_sprite)
        self.score_text = arcade.Text("", 10, 20, TEXT_COLOR, SCORE_FONT_SIZE_PT)

    # ------------------------------------------------------------ simulation
    def on_start(self) -> None:
        self.state = CoinField(dice=Dice(FIELD_SEED))
        self.state.scatter()

    def on_update(self, delta_time: float) -> None:
        field_ = self.state
        for player in field_.players.values():  # dicts keep insertion order on every peer
            player.x, player.y = step_toward(
                player.x, player.y, player.aim_x, player.aim_y, PLAYER_SPEED_PX
            )
            box = player.box()
            taken = [
                coin_id
                for coin_id, (x, y) in field_.coins.items()
                if circle_hits_box(x, y, COIN_RADIUS_PX, box)
            ]
            for coin_id in taken:
                del field_.coins[coin_id]
            player.score += len(taken)
        if not field_.coins:
            field_.scatter()

    def on_event(self, event: Event) -> None:
        point = aim_point(event.payload) if event.name == "aim" else None
        player = self.state.players.get(event.source)
        if point is None or player is None:  # no player: its peer has left
            return
        player.aim_x, player.aim_y = point

    def on_peer_join(self, peer_id: int) -> None:
        self.state.players[peer_id] = Player(*SPAWN, *SPAWN)

    def on_peer_leave(self, peer_id: int) -> None:
        del self.state.players[peer_id]  # its score leaves with it

    # ------------------------------------------------------------ local side
    def on_mouse_motion(self, x: int, y: int, dx: int, dy: int) -> None:
        self.aim.offer([int(x), int(y)])

    def on_key_press(self, symbol: int, modifiers: int) -> None:
        if symbol == arcade.key.ESCAPE and self.menu is not None:
            self.window.show_view(self.menu)  # local: the race goes on without us watching

    def on_draw(self) -> None:
        self.clear(BACKGROUND_COLOR)
        field_ = self.state
        if field_ is None:  # before tick 0 (START) has run: nothing to draw yet
            return
        self.coin_sprites.sync(field_.coins).draw()
        players = {peer: (p.x, p.y) for peer, p in field_.players.items()}
        self.player_sprites.sync(players).draw()
        self.score_text.text = score_line(field_, self.session.peer_id)
        self.score_text.draw()

    def _coin_sprite(self, coin_id: int) -> arcade.Sprite:
        return arcade.Sprite(COIN_TEXTURE, scale=COIN_SCALE)

    def _player_sprite(self, peer: int) -> arcade.Sprite:
        own = peer == self.session.peer_id
        return arcade.Sprite(OWN_TEXTURE if own else OTHER_TEXTURE, scale=PLAYER_SCALE)


def score_line(field_: CoinField, own_peer: int) -> str:
    """ "Wave 2   you 7   peer 4412: 5" -- the scores, this peer first."""
    parts = [f"Wave {field_.wave}"]
    own = field_.players.get(own_peer)
    parts.append(f"you {own.score if own else 0}")
    parts += [f"peer {peer}: {p.score}" for peer, p in field_.players.items() if peer != own_peer]
    return "   ".join(parts)


class MenuView(arcade.View):
    """A local title screen: this peer only; the shared race runs on underneath."""

    def __init__(self, window: SymmetricWindow, game: CoinGameView) -> None:
        super().__init__(window)
        self.game = game
        self.seconds_shown = 0.0  # local, real time: it never touches the simulation
        self.title = arcade.Text(
            "Coin collector",
            WIDTH_PX // 2,
            HEIGHT_PX // 2 + 40,
            TEXT_COLOR,
            TITLE_FONT_SIZE_PT,
            anchor_x="center",
        )
        self.hint = arcade.Text(
            "click to play -- move the mouse to collect coins, Esc comes back here",
            WIDTH_PX // 2,
            HEIGHT_PX // 2 - 20,
            TEXT_COLOR,
            SCORE_FONT_SIZE_PT,
            anchor_x="center",
        )
        self.status = arcade.Text("", WIDTH_PX // 2, 40, TEXT_COLOR, 12, anchor_x="center")

    def on_update(self, delta_time: float) -> None:
        self.seconds_shown += delta_time

    def on_draw(self) -> None:
        self.clear(arcade.color.DARK_SLATE_BLUE)
        self.title.draw()
        if int(self.seconds_shown / BLINK_PERIOD_S * 2) % 2 == 0:
            self.hint.draw()
        field_ = self.game.state  # reading the shared state is fine; changing it is not
        if field_ is None:
            self.status.text = "starting ..."
        else:
            racing, left = len(field_.players), len(field_.coins)
            self.status.text = f"{racing} racing, wave {field_.wave}, {left} coins left"
        self.status.draw()

    def on_mouse_press(self, x: int, y: int, button: int, modifiers: int) -> None:
        self.window.show_view(self.game)


class CoinCollector(SymmetricWindow):
    """The window: it shares :class:`CoinGameView` and shows :class:`MenuView` first."""

    WIDTH_PX = WIDTH_PX
    HEIGHT_PX = HEIGHT_PX

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.game_view = CoinGameView(self)
        self.attach_view(self.game_view)  # the simulation, from tick 0, on every peer
        self.game_view.menu = MenuView(self, self.game_view)
        self.show_view(self.game_view.menu)  # what this player sees first

    def autopilot(self, rng: random.Random) -> None:
        """Play like a user: enter the race, then wave the mouse toward random points."""
        if self.current_view is not self.game_view:
            self.dispatch_event("on_mouse_press", WIDTH_PX // 2, HEIGHT_PX // 2, 1, 0)
        elif rng.random() < 0.3:
            x, y = rng.randrange(WIDTH_PX), rng.randrange(HEIGHT_PX)
            self.dispatch_event("on_mouse_motion", x, y, 0, 0)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the coin race from the command line (see ``--help``)."""
    CoinCollector.main(argv)


if __name__ == "__main__":
    main()
