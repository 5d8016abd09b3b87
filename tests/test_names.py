"""Generated run names: shape, determinism, spread."""

from __future__ import annotations

import random
import re

from mltrail.entities.names import ADJECTIVES, NOUNS, generate_run_name

NAME = re.compile(r"(?P<adjective>[a-z]+)-(?P<noun>[a-z]+)-(?P<number>0|[1-9][0-9]{0,2})")


def test_name_is_adjective_noun_number() -> None:
    for _ in range(200):
        match = NAME.fullmatch(generate_run_name())
        assert match is not None
        assert match["adjective"] in ADJECTIVES
        assert match["noun"] in NOUNS
        assert 0 <= int(match["number"]) <= 999


def test_seeded_rng_gives_the_same_names() -> None:
    first = [generate_run_name(random.Random(417)) for _ in range(3)]
    rng_a, rng_b = random.Random(2024), random.Random(2024)

    assert len(set(first)) == 1
    assert [generate_run_name(rng_a) for _ in range(50)] == [
        generate_run_name(rng_b) for _ in range(50)
    ]


def test_default_ignores_the_global_random_seed() -> None:
    # Users seed the global generator for reproducible training; run names must still differ.
    saved = random.getstate()
    try:
        random.seed(7)
        first = [generate_run_name() for _ in range(5)]
        random.seed(7)
        second = [generate_run_name() for _ in range(5)]
    finally:
        random.setstate(saved)

    assert first != second


def test_thousand_names_rarely_collide() -> None:
    names = [generate_run_name(random.Random(seed)) for seed in range(1000)]

    # 3.6 million names: about 0.14 colliding pairs are expected among a thousand.
    assert len(set(names)) >= 997


def test_word_lists_are_plain_distinct_lowercase_words() -> None:
    assert len(ADJECTIVES) == len(set(ADJECTIVES)) == 60
    assert len(NOUNS) == len(set(NOUNS)) == 60
    assert not set(ADJECTIVES) & set(NOUNS)
    for word in (*ADJECTIVES, *NOUNS):
        assert re.fullmatch(r"[a-z]{3,10}", word), word
