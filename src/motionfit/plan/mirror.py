"""Which classes a horizontal flip turns into other classes, read from their names.

A mirrored "swipe left" is a "swipe right", a mirrored clockwise circle a counter-clockwise one,
a mirrored tick (check mark) no class at all. From the names: classes whose mirror image is
another class form flip pairs (``augment.flip_label_map``); a class whose mirror image is no
class (``circlecc`` without ``circlecw``, ``tick``) makes flipping produce mislabeled clips, so
the plan turns ``augment.hflip`` off.
"""

# Hand-written: no library reads mirror symmetry from class names.

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# word -> its mirror image
MIRROR_WORDS = {
    "left": "right",
    "leftward": "rightward",
    "leftwards": "rightwards",
    "clockwise": "counterclockwise",
    "cw": "ccw",
    "west": "east",
}
MIRROR_WORDS |= {b: a for a, b in MIRROR_WORDS.items() if b not in MIRROR_WORDS}
# a rotation named by a short suffix: "circlecc", "rotatecw", "spin_ccw" (one word)
_ROTATION = re.compile(r"^(circle|rotate|rotation|turn|spin|swirl|roll)(cc|ccw|acw|cw)$")
# shapes drawn in the air whose mirror image is another shape (a tick, a check mark)
CHIRAL_WORDS = frozenset({"tick", "check", "checkmark"})


@dataclass(frozen=True)
class MirrorPlan:
    """What flipping does to the classes.

    Attributes:
        pairs: classes whose mirror image is the other (``a: b``, each pair once).
        unpaired: mirror-sensitive classes whose mirror image is no class.
    """

    pairs: dict[str, str]
    unpaired: tuple[str, ...]

    @property
    def flip_safe(self) -> bool:
        """True when every mirror-sensitive class has its partner (flipping relabels them)."""
        return not self.unpaired


def mirror_plan(class_names: Sequence[str]) -> MirrorPlan:
    """Pair the classes whose names are mirror images (``swipe_left`` / ``swipe_right``,
    ``RotateClockwise`` / ``rotate_counterclockwise``) and list the mirror-sensitive rest."""
    by_words = {tuple(_words(name)): name for name in class_names}
    pairs: dict[str, str] = {}
    unpaired = []
    for name in class_names:
        words = _words(name)
        if not any(_mirrored(w) != w or w in CHIRAL_WORDS for w in words):
            continue
        partner = by_words.get(tuple(_mirrored(w) for w in words))
        if partner is None or partner == name:
            unpaired.append(name)
        elif partner not in pairs:
            pairs[name] = partner
    return MirrorPlan(pairs, tuple(unpaired))


def _mirrored(word: str) -> str:
    """A word's mirror image (itself when mirroring leaves it as it is)."""
    rotation = _ROTATION.match(word)
    if rotation:
        shape, turn = rotation.groups()
        return shape + ("ccw" if turn == "cw" else "cw")
    return MIRROR_WORDS.get(word, word)


def _words(name: str) -> list[str]:
    """Lower-case words of a class name, split at separators and camelCase boundaries, each
    turn spelled one way ("anti clockwise", "anticlockwise" -> "counterclockwise"; "circlecc"
    -> "circleccw")."""
    words = [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)]
    joined: list[str] = []
    for word in words:
        if word == "clockwise" and joined and joined[-1] in ("counter", "anti"):
            joined[-1] = "counterclockwise"
        elif word == "anticlockwise":
            joined.append("counterclockwise")
        elif rotation := _ROTATION.match(word):  # one spelling per turn: circlecc = circleccw
            shape, turn = rotation.groups()
            joined.append(shape + ("cw" if turn == "cw" else "ccw"))
        else:
            joined.append(word)
    return joined
