"""Template bitext spans over a small generated KB, for the nightly tests and benchmark.

``write_kb`` writes an X-FACTR-layout KB (people born in cities and citizens of countries, cities in
countries, capitals) with invented names, so alias matching is unambiguous. ``write_span`` writes one span
folder ``<root>/<span>/en-de.jsonl`` of EN-DE sentence pairs: every sampled fact in a template of its
relation, plus no-relation pairs in a neutral template. ``corrupt=True`` makes a bad span whose text
contradicts its distant labels: related pairs in the neutral template, unrelated pairs in relation
templates, and each fact in another relation's template (the labels, which come from the KB by pair,
are effectively shuffled against the text).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

TEMPLATES = {
    "P19": [("{h} was born in {t}.", "{h} wurde in {t} geboren."),
            ("{h} was born in the city of {t} .", "{h} kam in der Stadt {t} zur Welt.")],
    "P27": [("{h} is a citizen of {t}.", "{h} ist Staatsbürger von {t}."),
            ("{h} holds the citizenship of {t}.", "{h} besitzt die Staatsbürgerschaft von {t}.")],
    "P17": [("{h} is a city in {t}.", "{h} ist eine Stadt in {t}."),
            ("{h} lies in the country {t}.", "{h} liegt im Land {t}.")],
    "P36": [("The capital of {h} is {t}.", "Die Hauptstadt von {h} ist {t}."),
            ("{h} has its seat of government in {t}.", "{h} hat seinen Regierungssitz in {t}.")],
}
NEUTRAL = [("{h} and {t} appeared in the same report.", "{h} und {t} erschienen im selben Bericht."),
           ("A note mentioned {h} next to {t}.", "Eine Notiz erwähnte {h} neben {t}.")]
_SYLLABLES = ["ka", "lo", "mi", "ren", "sa", "tor", "vel", "dun", "bri", "mo", "zan", "quel", "fa", "gor", "lin",
              "pra", "sen", "tul", "vor", "wen"]


def _names(rng: random.Random, n: int, taken: set[str]) -> list[str]:
    out = []
    while len(out) < n:
        name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize()
        if name not in taken and len(name) >= 4:
            taken.add(name)
            out.append(name)
    return out


def write_kb(kb_dir: str | Path, seed: int = 7, people: int = 40, cities: int = 16, countries: int = 5,
             extra_facts: int = 0, id_base: int = 0) -> dict:
    """Write the KB; return {'facts': [(h, r, t)], 'names': {id: name}, 'people', 'cities', 'countries'}.
    ``extra_facts`` adds that many P19 facts for new people (a KB update); ``id_base`` shifts the Q-ids
    (countries Q<base+100...>, cities Q<base+200...>, people Q<base+400...>) away from another KB's."""
    rng = random.Random(seed)
    taken: set[str] = set()
    country_ids = [f"Q{id_base + 100 + i}" for i in range(countries)]
    city_ids = [f"Q{id_base + 200 + i}" for i in range(cities)]
    person_ids = [f"Q{id_base + 400 + i}" for i in range(people + extra_facts)]
    names = dict(zip(country_ids + city_ids + person_ids, _names(rng, len(country_ids) + len(city_ids)
                                                               + len(person_ids), taken), strict=True))
    facts = []
    city_country = {c: rng.choice(country_ids) for c in city_ids}
    for city, country in city_country.items():
        facts.append((city, "P17", country))
    for country in country_ids:
        capital = rng.choice([c for c in city_ids if city_country[c] == country] or city_ids)
        facts.append((country, "P36", capital))
    for person in person_ids:
        city = rng.choice(city_ids)
        facts.append((person, "P19", city))
        if rng.random() < 0.7:
            facts.append((person, "P27", city_country[city]))
    kb = Path(kb_dir)
    (kb / "facts").mkdir(parents=True, exist_ok=True)
    (kb / "aliases").mkdir(parents=True, exist_ok=True)
    (kb / "facts" / "facts.tsv").write_text("".join(f"{h}\t{r}\t{t}\n" for h, r, t in facts), encoding="utf-8")
    for lang in ("en", "de"):
        (kb / "aliases" / f"{lang}.txt").write_text("".join(f"{e}\t{n}\n" for e, n in names.items()),
                                                    encoding="utf-8")
    return {"facts": facts, "names": names, "people": person_ids, "cities": city_ids, "countries": country_ids}


def write_span(root: str | Path, span: str, kb: dict, seed: int, share: float = 0.6, na_pairs: int = 30,
               corrupt: bool = False, repeat: int = 1, name: str = "en-de.jsonl") -> Path:
    """Write ``<root>/<span>/<name>``; return the file. ``share`` of the facts are sampled per repeat."""
    rng = random.Random(f"{seed}|{span}")
    names = kb["names"]
    related = {(h, t) for h, _, t in kb["facts"]} | {(t, h) for h, _, t in kb["facts"]}
    lines = []
    relations = sorted(TEMPLATES)
    for _ in range(repeat):
        for h, r, t in kb["facts"]:
            if rng.random() >= share:
                continue
            if corrupt:
                choice = rng.random()
                pool = NEUTRAL if choice < 0.5 else TEMPLATES[relations[(relations.index(r) + 1) % len(relations)]]
            else:
                pool = TEMPLATES[r]
            en, de = rng.choice(pool)
            lines.append((names[h], names[t], en, de))
        for _ in range(na_pairs):
            h, t = rng.choice(kb["people"]), rng.choice(kb["cities"] + kb["countries"])
            if (h, t) in related:
                continue
            en, de = rng.choice(TEMPLATES[rng.choice(("P19", "P27"))] if corrupt else NEUTRAL)
            lines.append((names[h], names[t], en, de))
    out = Path(root) / span / name
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        for i, (h, t, en, de) in enumerate(lines):
            handle.write(json.dumps({"id": f"{span}-{i}", "en": en.format(h=h, t=t), "de": de.format(h=h, t=t)},
                                    ensure_ascii=False) + "\n")
    return out
