"""Number utilities used as seed code for codemill's examples."""

import math


def primes_up_to(limit: int) -> list[int]:
    """Sieve of Eratosthenes: every prime not larger than `limit`."""
    if limit < 2:
        return []
    sieve = bytearray([1]) * (limit + 1)
    sieve[0:2] = b"\x00\x00"
    for n in range(2, math.isqrt(limit) + 1):
        if sieve[n]:
            sieve[n * n::n] = bytearray(len(sieve[n * n::n]))
    return [n for n, flag in enumerate(sieve) if flag]


def gcd_many(values: list[int]) -> int:
    """Greatest common divisor of a list of integers (0 for an empty list)."""
    result = 0
    for value in values:
        result = math.gcd(result, value)
    return result


def running_mean(values: list[float], window: int) -> list[float]:
    """Mean of each full window of `window` consecutive values."""
    if window <= 0:
        raise ValueError("window must be positive")
    total = sum(values[:window])
    means = [total / window] if len(values) >= window else []
    for i in range(window, len(values)):
        total += values[i] - values[i - window]
        means.append(total / window)
    return means


def to_roman(number: int) -> str:
    """Roman numeral for 1 <= number <= 3999."""
    table = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
             (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    parts = []
    for value, letters in table:
        count, number = divmod(number, value)
        parts.append(letters * count)
    return "".join(parts)


def to_roman_numeral(number: int) -> str:
    """Convert 1 <= number <= 3999 to a Roman numeral."""
    table = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
             (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    parts = []
    for value, letters in table:
        count, number = divmod(number, value)
        parts.append(letters * count)
    return "".join(parts)


def digits_sum(n: int) -> int:
    """Sum of the decimal digits of abs(n)."""
    return sum(int(d) for d in str(abs(n)))
