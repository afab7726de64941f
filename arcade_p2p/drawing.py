"""Drawing plain simulation state with Arcade sprites.

How this works: a shared simulation keeps plain data (ids, integer positions) in
``self.state``, because sprites hold textures and GPU buffers that cannot be saved,
sent or rolled back. ``on_draw`` turns that data into sprites, and a
:class:`SpriteCache` keeps one sprite per id between frames: :meth:`SpriteCache.sync`
creates the sprites of new ids, moves the existing ones and drops those whose id left
the state, so a frame costs a dictionary lookup per object, not a texture load. The
cache lives outside the state and is only read and written while drawing; a rollback
needs nothing from it (the next frame syncs it to whatever the state then is).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Generic, TypeVar

import arcade

__all__ = ["SpriteCache"]

K = TypeVar("K", bound=Hashable)


class SpriteCache(Generic[K]):
    """One sprite per id, kept in step with the state by :meth:`sync`.

    Args:
        make: Builds the sprite of a new id (texture, scale, colour); called once per id.

    Attributes:
        sprites: All cached sprites, as one :class:`arcade.SpriteList` to draw.
    """

    def __init__(self, make: Callable[[K], arcade.Sprite]) -> None:
        self._make = make
        self._by_id: dict[K, arcade.Sprite] = {}
        self.sprites: arcade.SpriteList[arcade.Sprite] = arcade.SpriteList()

    def sync(self, positions: Mapping[K, tuple[float, float]]) -> arcade.SpriteList[arcade.Sprite]:
        """Make the sprites match ``positions`` (id -> centre): add, move, remove.

        Args:
            positions: Where each object of the state is, by id.

        Returns:
            :attr:`sprites`, ready to draw.
        """
        for gone in self._by_id.keys() - positions.keys():
            self._by_id.pop(gone).remove_from_sprite_lists()
        for key, position in positions.items():
            sprite = self._by_id.get(key)
            if sprite is None:
                sprite = self._by_id[key] = self._make(key)
                self.sprites.append(sprite)
            sprite.position = position
        return self.sprites

    def __getitem__(self, key: K) -> arcade.Sprite:
        """The sprite of ``key`` (to set more than its position: angle, colour, ...)."""
        return self._by_id[key]

    def __len__(self) -> int:
        return len(self._by_id)
