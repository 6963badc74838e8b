"""Two-sample tests for the timing test, with the standard library only:
the Mann-Whitney U test (normal approximation with the tie correction,
right for thousands of samples) and the two-sample Kolmogorov-Smirnov
test (asymptotic distribution)."""

import math


def mann_whitney_u(first, second):
    """Returns (u, z, p, effect): U of first, its z score, the two-sided p
    value, and the common-language effect size U / (n1 n2), which is 0.5
    when neither sample tends to be larger."""
    n1, n2 = len(first), len(second)
    pooled = sorted([(value, 0) for value in first] +
                    [(value, 1) for value in second])
    rank_sum = 0.0
    tie_term = 0.0
    index = 0
    while index < len(pooled):
        end = index
        while end + 1 < len(pooled) and pooled[end + 1][0] == pooled[index][0]:
            end += 1
        average_rank = (index + end) / 2 + 1
        rank_sum += average_rank * sum(1 for _, group in pooled[index:end + 1]
                                       if group == 0)
        ties = end - index + 1
        tie_term += ties ** 3 - ties
        index = end + 1

    u = rank_sum - n1 * (n1 + 1) / 2
    total = n1 + n2
    variance = n1 * n2 / 12 * ((total + 1) - tie_term / (total * (total - 1)))
    z = (u - n1 * n2 / 2) / math.sqrt(variance) if variance > 0 else 0.0
    p = math.erfc(abs(z) / math.sqrt(2))
    return u, z, p, u / (n1 * n2)


def kolmogorov_smirnov(first, second):
    """Returns (d, p): the largest distance between the two empirical
    distribution functions and its asymptotic two-sided p value."""
    a, b = sorted(first), sorted(second)
    n1, n2 = len(a), len(b)
    i = j = 0
    d = 0.0
    while i < n1 and j < n2:
        value = min(a[i], b[j])
        while i < n1 and a[i] == value:
            i += 1
        while j < n2 and b[j] == value:
            j += 1
        d = max(d, abs(i / n1 - j / n2))

    effective = math.sqrt(n1 * n2 / (n1 + n2))
    lam = (effective + 0.12 + 0.11 / effective) * d
    if lam < 0.3:
        return d, 1.0  # the series below needs lam away from 0; p > 0.99
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam)
                for k in range(1, 101))
    return d, min(max(p, 0.0), 1.0)
