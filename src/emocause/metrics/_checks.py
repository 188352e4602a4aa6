"""Input checks shared by the metrics, so that bad input fails with a clear ValueError."""

from collections.abc import Sized


def check_nonempty(items: Sized, name: str) -> None:
    if len(items) == 0:
        raise ValueError(f"{name} is empty; the metric is undefined on no examples")


def check_paired(first: Sized, second: Sized, first_name: str, second_name: str) -> None:
    check_nonempty(first, first_name)
    if len(first) != len(second):
        raise ValueError(f"{first_name} and {second_name} differ in length ({len(first)} != {len(second)})")


def check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
