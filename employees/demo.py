"""Fictional staff for the demo (`python manage.py load_demo`, console/demo.py).

Everything here is invented: names are drawn from small lists, addresses use
the reserved domain example.com (RFC 2606), so a demo can never mail a real
person. The generator is seeded, so every run produces the same people and a
second load finds them all present and changes nothing.

The directory knows nothing of campaigns: the demo's admin login and its
campaign are loaded by console/demo.py, which calls ``employees_load`` first.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

from django.db import transaction
from django.db.models.functions import Lower

from employees.models import EmailStatus, Employee

DEMO_DOMAIN = "example.com"
DEMO_EMPLOYEE_COUNT = 300
_SEED = 20251103  # LinkedIn's deadline in the model case; any constant will do
_TEAM_SIZE = 8

DEPARTMENTS = [
    "Direction générale",
    "Finance",
    "Ressources humaines",
    "Informatique",
    "Juridique",
    "Marketing",
    "Ventes",
    "Recherche & Développement",
    "Support client",
]


@dataclass(frozen=True)
class _Site:
    name: str
    weight: int
    french_share: float  # share of employees who read French
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]


_FRENCH_FIRST = (
    "Hélène", "Léa", "Chloé", "Éloïse", "Anaïs", "Gaëlle", "Maëlys", "Zoé",
    "Camille", "Manon", "Benoît", "François", "Jérôme", "Noël", "Loïc",
    "Théo", "Raphaël", "Mathéo", "Gérard", "Stéphane", "Inès", "Aurélien",
)  # fmt: skip
_FRENCH_LAST = (
    "Lefèvre", "Bénard", "Chevrier", "Dubois", "Garnier", "Lemaître",
    "Moreau", "Faure", "Girard", "Mercier", "Rousseau", "Bréhaut", "Lévêque",
    "Perrin", "Hébert", "Fontaine", "Duchêne", "Mallet", "Crépin", "Noël",
)  # fmt: skip
_NORWEGIAN_FIRST = ("Øyvind", "Bjørn", "Åse", "Solveig", "Kåre", "Ingrid", "Sigrún")
_NORWEGIAN_LAST = ("Ødegård", "Søreide", "Hagen", "Bråten", "Løvås", "Ås")
_GERMAN_FIRST = ("Jürgen", "Jörg", "Käthe", "Anna-Lena", "Lukas", "Sören", "Ute")
_GERMAN_LAST = ("Müller", "Schröder", "Weiß", "Groß", "Bäcker", "Köhler", "Vogel")
_VIETNAMESE_FIRST = ("Thị Mai", "Văn Hùng", "Minh Anh", "Quốc Bảo", "Thu Hà", "Đức")
_VIETNAMESE_LAST = ("Đặng", "Nguyễn", "Trần", "Lê", "Phạm", "Võ", "Huỳnh")
_ENGLISH_FIRST = ("Oliver", "Amelia", "Siobhan", "Rhys", "Priya", "Grace", "Tom")
_ENGLISH_LAST = ("O'Brien", "Smith-Jones", "Patel", "Evans", "MacLeod", "Wright")

SITES = [
    _Site("Paris, France", 45, 0.97, _FRENCH_FIRST, _FRENCH_LAST),
    _Site("Lyon, France", 15, 0.97, _FRENCH_FIRST, _FRENCH_LAST),
    _Site("Bruxelles, Belgique", 8, 0.8, _FRENCH_FIRST, _FRENCH_LAST),
    _Site("Montréal, Canada", 6, 0.6, _FRENCH_FIRST, _ENGLISH_LAST),
    _Site("London, United Kingdom", 10, 0.05, _ENGLISH_FIRST, _ENGLISH_LAST),
    _Site("Oslo, Norway", 6, 0.0, _NORWEGIAN_FIRST, _NORWEGIAN_LAST),
    _Site("Berlin, Germany", 6, 0.05, _GERMAN_FIRST, _GERMAN_LAST),
    _Site("Hanoi, Vietnam", 4, 0.1, _VIETNAMESE_FIRST, _VIETNAMESE_LAST),
]
# Letters that Unicode does not decompose into an ASCII base letter.
_ASCII = str.maketrans({"Đ": "D", "đ": "d", "Ø": "O", "ø": "o", "ß": "ss", "Æ": "Ae"})


def _ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII))
    plain = decomposed.encode("ascii", "ignore").decode().lower()
    return "".join(c if c.isalnum() else "-" for c in plain).strip("-")


def _unique_email(first: str, last: str, taken: set[str]) -> str:
    base = f"{_ascii_slug(first)}.{_ascii_slug(last)}".replace("--", "-")
    email, n = f"{base}@{DEMO_DOMAIN}", 1
    while email in taken:
        n += 1
        email = f"{base}{n}@{DEMO_DOMAIN}"
    taken.add(email)
    return email


def _person(rng: random.Random, number: int, taken: set[str]) -> Employee:
    site = rng.choices(SITES, weights=[s.weight for s in SITES])[0]
    first, last = rng.choice(site.first_names), rng.choice(site.last_names)
    french = rng.random() < site.french_share
    return Employee(
        hr_id=f"DEMO-{number:04d}",
        email=_unique_email(first, last, taken),
        first_name=first,
        last_name=last,
        country=site.name,
        language="fr" if french else "en",
        department=DEPARTMENTS[0] if number == 1 else rng.choice(DEPARTMENTS[1:]),
    )


def demo_employees(count: int = DEMO_EMPLOYEE_COUNT) -> list[Employee]:
    """The same `count` unsaved people on every call (seeded generator).

    Managers are set with `_manager_of` once the rows have primary keys.
    A few have left (inactive) and a few addresses bounced, as in real life.
    """
    rng = random.Random(_SEED)
    taken: set[str] = set()
    people = [_person(rng, number, taken) for number in range(1, count + 1)]
    # The four names the import must keep intact appear in the demo too.
    names = [("Hélène", "Lefèvre"), ("Øyvind", "Søreide"), ("Jürgen", "Müller")]
    names.append(("Thị Mai", "Đặng"))
    for person, (first, last) in zip(people[1:5], names, strict=True):
        taken.discard(person.email)
        person.first_name, person.last_name = first, last
        person.email = _unique_email(first, last, taken)
    for person in people[-6:]:
        person.is_active = False
    for person in people[-12:-9]:
        person.email_status = EmailStatus.BOUNCED
    return people


def _manager_of(people: list[Employee]) -> dict[str, str]:
    """email -> manager's email: a CEO, department heads, team leads, staff."""
    ceo, managers = people[0], {}
    heads: dict[str, Employee] = {}
    leads: dict[str, Employee] = {}
    sizes: dict[str, int] = {}
    for person in people[1:]:
        department = person.department
        if department not in heads:
            heads[department] = person
            managers[person.email] = ceo.email
            continue
        # Every _TEAM_SIZE-th member of a department leads a team under the head.
        if sizes.get(department, 0) % _TEAM_SIZE == 0:
            leads[department] = person
            managers[person.email] = heads[department].email
        else:
            managers[person.email] = leads[department].email
        sizes[department] = sizes.get(department, 0) + 1
    return managers


def employees_load() -> tuple[int, int]:
    """Create the demo employees that are missing; returns (created, present)."""
    people = demo_employees()
    emails = [p.email for p in people]
    with transaction.atomic():
        existing = set(
            Employee.objects.annotate(lower=Lower("email"))
            .filter(lower__in=emails)
            .values_list("lower", flat=True)
        )
        missing = [p for p in people if p.email not in existing]
        Employee.objects.bulk_create(missing, ignore_conflicts=True)
        if missing:
            _link_managers(people, {p.email for p in missing})
        present = Employee.objects.filter(email__in=emails).count()
    return len(missing), present


def _link_managers(people: list[Employee], created: set[str]) -> None:
    ids = dict(
        Employee.objects.filter(email__in=[p.email for p in people]).values_list(
            "email", "pk"
        )
    )
    rows = []
    for email, manager_email in _manager_of(people).items():
        if email in created and email in ids and manager_email in ids:
            rows.append(Employee(pk=ids[email], manager_id=ids[manager_email]))
    Employee.objects.bulk_update(rows, ["manager"], batch_size=500)
