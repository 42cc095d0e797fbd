"""An intent classifier trained at start-up from the flow's example sentences.

Logistic regression (scikit-learn) over character n-grams and pinyin syllables, so a
sentence it has never seen, or a homophone of one it has, still lands near its examples.
Training happens once per process; deciding is a dictionary walk over the sentence's
features (tens of microseconds), with no scikit-learn call on the webhook.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ivr.flows.speech.text import has_han, normalise, syllables

NOT_FOR_US = ""  # the label of sentences that are no option of the menu
REGULARISATION = 30.0  # scikit-learn's C: larger trusts the examples more


def features(text: str) -> dict[str, float]:
    """Character 1-3 grams and syllable 1-2 grams for Chinese; word and character 3-4
    grams for English; each sentence's vector scaled to unit length."""
    found: set[str] = set()
    if has_han(text):
        said = normalise(text)
        for n in (1, 2, 3):
            found.update(f"c{n}:{said[i : i + n]}" for i in range(len(said) - n + 1))
        sounds = syllables(said)
        found.update(f"s:{s}" for s in sounds)
        found.update(f"s:{a}_{b}" for a, b in itertools.pairwise(sounds))
    else:
        words = [normalise(w) for w in text.lower().split()]
        words = [w for w in words if w]
        found.update(f"w:{w}" for w in words)
        found.update(f"w:{a}_{b}" for a, b in itertools.pairwise(words))
        joined = f" {' '.join(words)} "
        for n in (3, 4):
            found.update(f"c{n}:{joined[i : i + n]}" for i in range(len(joined) - n + 1))
    if not found:
        return {}
    weight = 1.0 / math.sqrt(len(found))
    return dict.fromkeys(found, weight)


@dataclass(frozen=True)
class Classifier:
    labels: tuple[str, ...]
    weights: Mapping[str, tuple[float, ...]]
    bias: tuple[float, ...]

    def scores(self, text: str) -> dict[str, float]:
        """Each label's probability for the sentence."""
        totals = list(self.bias)
        for feature, value in features(text).items():
            row = self.weights.get(feature)
            if row is not None:
                for index, weight in enumerate(row):
                    totals[index] += weight * value
        top = max(totals)
        exps = [math.exp(t - top) for t in totals]
        whole = sum(exps)
        return {label: e / whole for label, e in zip(self.labels, exps, strict=True)}

    def to_json(self) -> dict[str, Any]:
        return {"labels": self.labels, "bias": self.bias, "weights": self.weights}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Classifier:
        labels = tuple(str(label) for label in raw["labels"])
        bias = tuple(float(b) for b in raw["bias"])
        weights = {str(f): tuple(float(w) for w in row) for f, row in raw["weights"].items()}
        if len(bias) != len(labels) or any(len(row) != len(labels) for row in weights.values()):
            raise ValueError("a model's rows do not match its labels")
        return cls(labels=labels, weights=weights, bias=bias)

    def best(self, text: str) -> tuple[str, float]:
        scores = self.scores(text)
        label = max(scores, key=lambda k: scores[k])
        return label, scores[label]


def train(examples: Sequence[tuple[str, str]]) -> Classifier | None:
    """A classifier for (sentence, label) examples; None with fewer than two labels."""
    labels = sorted({label for _, label in examples})
    if len(labels) < 2:
        return None
    # scikit-learn is loaded only here: deciding needs none of it.
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    vectoriser = DictVectorizer()
    matrix = vectoriser.fit_transform([features(text) for text, _ in examples])
    targets = [labels.index(label) for _, label in examples]
    model = LogisticRegression(C=REGULARISATION, max_iter=2000)
    model.fit(matrix, targets)
    coef = model.coef_
    bias = model.intercept_
    if len(labels) == 2:  # a binary model keeps one row: the second label's log-odds
        coef = [-coef[0] / 2, coef[0] / 2]
        bias = [-bias[0] / 2, bias[0] / 2]
    names = vectoriser.get_feature_names_out()
    weights = {
        str(name): tuple(float(coef[row][column]) for row in range(len(labels)))
        for column, name in enumerate(names)
    }
    return Classifier(labels=tuple(labels), weights=weights, bias=tuple(float(b) for b in bias))
