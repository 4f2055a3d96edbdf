"""relsign's demo package: a tiny CLI built, tested and signed by relsign."""

__version__ = "0.1.0"


def greet(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValueError("name must not be empty")
    return f"Hello, {name}!"


def total(numbers: list[str]) -> int:
    result = 0
    for n in numbers:
        try:
            result += int(n)
        except ValueError:
            raise ValueError(f"not an integer: {n!r}") from None
    return result
