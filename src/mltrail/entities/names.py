"""Readable names for runs that were started without one: ``amber-lagoon-417``.

A name is an adjective, a noun and a number from 0 to 999: 60 x 60 x 1,000 = 3.6 million
names, so a thousand runs in one experiment share a name about once in seven experiments.
Names are labels, not identifiers; the run id stays the key.

The words are lowercase ASCII, easy to say and spell (no British/American spelling pairs), and
kind; the nouns come from landscape, sky and garden.
"""

from __future__ import annotations

import random

__all__ = ["ADJECTIVES", "NOUNS", "generate_run_name"]

ADJECTIVES: tuple[str, ...] = (
    "amber", "ample", "azure", "balmy", "bold", "breezy", "brisk", "candid", "cheery", "cobalt",
    "crisp", "curious", "dewy", "eager", "early", "earnest", "fluent", "frosty", "gilded", "glad",
    "golden", "grand", "hardy", "hazel", "honest", "humble", "jade", "jolly", "keen", "lively",
    "lucid", "lunar", "mellow", "merry", "mild", "misty", "modest", "noble", "olive", "patient",
    "plucky", "proud", "quiet", "rapid", "rosy", "rustic", "sandy", "serene", "silver", "snowy",
    "solar", "steady", "sturdy", "sunny", "swift", "tidy", "tranquil", "vivid", "warm", "zesty",
)  # fmt: skip

NOUNS: tuple[str, ...] = (
    "acorn", "anchor", "aspen", "atlas", "beacon", "birch", "breeze", "bridge", "brook", "canoe",
    "canyon", "cedar", "cloud", "comet", "compass", "coral", "cove", "delta", "dune", "ember",
    "fern", "fjord", "garden", "glacier", "grove", "harvest", "island", "kettle", "lagoon",
    "lantern", "lighthouse", "maple", "meadow", "mesa", "meteor", "moss", "nebula", "oasis",
    "orbit", "orchard", "pebble", "pine", "planet", "prairie", "quartz", "rainbow", "reef",
    "ridge", "river", "sequoia", "spruce", "star", "summit", "tide", "timber", "trail", "tundra",
    "valley", "willow", "zephyr",
)  # fmt: skip

# The default draws from the operating system: the user's own random.seed() calls must not make
# every run share a name, and processes forked from one parent must not draw the same sequence.
_SYSTEM_RANDOM = random.SystemRandom()


def generate_run_name(rng: random.Random | None = None) -> str:
    """A name like ``amber-lagoon-417``; pass a seeded ``rng`` for a repeatable sequence."""
    source = _SYSTEM_RANDOM if rng is None else rng
    return f"{source.choice(ADJECTIVES)}-{source.choice(NOUNS)}-{source.randint(0, 999)}"
