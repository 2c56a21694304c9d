"""Ready-made campaigns a DPO can start from (admin and `create_campaign`).

The LinkedIn text is written from two public French articles of September
2025 and from LinkedIn's own settings page (LINKEDIN_SETTINGS_URL below):
"LinkedIn va utiliser les données personnelles de ses utilisateurs pour
entraîner son IA" (an explainer citing LinkedIn's "Mise à jour des Conditions
générales et de l'utilisation des données" of 18 September 2025), and a news
piece of 23 September 2025 reporting Le Monde and BFM ("Le réseau
professionnel modifie ses paramètres de confidentialité pour étendre à
l'Europe une collecte de données déjà en place aux États-Unis depuis un an").
CONTRIBUTING.md lists them too. The texts must read right on either side of
LinkedIn's own date (3 November 2025), since a campaign may run long after
it: no future tense about that date ("LinkedIn will use…"), but what
LinkedIn may do from it, unless each member objects. Messages
link only to our own acknowledgement page (anti-phishing: a message about
privacy settings must not carry third-party links); the page, which the
employee reaches from our own site, shows LinkedIn's settings address in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils.translation import gettext_lazy as _

LINKEDIN_SETTINGS_URL = (
    "https://www.linkedin.com/mypreferences/d/settings/data-for-ai-improvement"
)


@dataclass(frozen=True)
class CampaignTemplate:
    slug: str
    label: str
    contents: dict[str, dict[str, str]]
    asks_answer: bool = False
    answer_choices: list[dict] = field(default_factory=list)
    # Suggested deadline (local date and time in the organisation's zone).
    deadline: tuple[int, int, int] | None = None

    def suggested_deadline(self, tz: str) -> datetime | None:
        if not self.deadline:
            return None
        return datetime(*self.deadline, tzinfo=ZoneInfo(tz))


_LINKEDIN_FR_BODY = """Bonjour {{ first_name }},

À compter du 3 novembre 2025, LinkedIn peut utiliser les données de ses membres situés dans l'Union européenne, l'Espace économique européen et en Suisse pour entraîner ses modèles d'intelligence artificielle générative, sauf si chacun s'y oppose. Ce réglage est activé par défaut : si vous ne le désactivez pas, vos données peuvent être utilisées.

Ce qui est utilisé : les informations de votre profil (nom, photo, poste, formation, compétences, recommandations, localisation), vos publications, articles et commentaires, votre activité dans les groupes, vos échanges avec des recruteurs et ce que vous saisissez dans les outils d'IA de LinkedIn.
Ce qui est exclu : vos messages privés et les informations sur votre salaire.

Si vous préférez que vos données ne servent pas à cela, il faut décocher l'option vous-même, avant le {{ deadline }} (il reste {{ days_left }} jours) :
1. Connectez-vous à LinkedIn et cliquez sur votre photo, en haut à droite.
2. Choisissez « Préférences et confidentialité » (Paramètres).
3. Ouvrez « Confidentialité des données », puis « Données pour l'amélioration de l'IA générative ».
4. Décochez « Utiliser mes données pour entraîner des modèles d'IA de création de contenus ».

Attention : se désinscrire n'efface rien de ce qui a déjà servi à entraîner les modèles ; cela ne vaut que pour l'avenir. Vous pouvez continuer à utiliser les fonctionnalités d'IA de LinkedIn.

Merci d'indiquer que vous avez lu ce message (un clic, sans mot de passe) :
{{ ack_url }}

Le délégué à la protection des données
"""

_LINKEDIN_FR_PAGE = """À compter du 3 novembre 2025, LinkedIn entraîne ses modèles d'IA générative avec les données de ses membres européens, sauf si chacun s'y oppose. Le réglage est activé par défaut.

Utilisé : profil (nom, photo, poste, formation, compétences, recommandations, localisation), publications et commentaires, activité dans les groupes, échanges avec des recruteurs, saisies dans les outils d'IA de LinkedIn.
Exclu : messages privés et données salariales. Les comptes de membres probablement mineurs ne sont pas concernés.

Pour refuser, avant le {{ deadline }} :
1. Connectez-vous à LinkedIn, cliquez sur votre photo en haut à droite.
2. Préférences et confidentialité > Confidentialité des données > Données pour l'amélioration de l'IA générative.
3. Décochez « Utiliser mes données pour entraîner des modèles d'IA de création de contenus ».
Adresse directe de ce réglage : https://www.linkedin.com/mypreferences/d/settings/data-for-ai-improvement

Se désinscrire ne vaut que pour l'avenir : ce qui a déjà servi à l'entraînement n'est pas effacé.

Ce choix vous appartient : l'entreprise ne vous demande pas de vous désinscrire, elle s'assure seulement que chacun est informé. Nous ne vous demanderons jamais votre mot de passe LinkedIn ni aucun identifiant.
"""

_LINKEDIN_EN_BODY = """Hello {{ first_name }},

From 3 November 2025, LinkedIn may use the data of its members in the European Union, the European Economic Area and Switzerland to train its generative AI models, unless they object. The setting is on by default: as long as you leave it on, your data can be used.

What is used: your profile (name, photo, job, education, skills, recommendations, location), your posts, articles and comments, your activity in groups, your exchanges with recruiters and what you type into LinkedIn's AI tools.
What is excluded: your private messages and salary information.

If you prefer your data not to be used for this, you have to untick the option yourself, before {{ deadline }} ({{ days_left }} days left):
1. Sign in to LinkedIn and click your photo, top right.
2. Choose "Settings & Privacy".
3. Open "Data privacy", then "Data for Generative AI Improvement".
4. Untick "Use my data for training content creation AI models".

Note: opting out does not undo any training that has already happened; it only applies to the future. You can still use LinkedIn's AI features.

Please confirm that you have read this message (one click, no password):
{{ ack_url }}

The Data Protection Officer
"""

_LINKEDIN_EN_PAGE = """From 3 November 2025, LinkedIn trains its generative AI models on the data of its European members unless each of them objects. The setting is on by default.

Used: profile (name, photo, job, education, skills, recommendations, location), posts and comments, group activity, exchanges with recruiters, what you type into LinkedIn's AI tools.
Excluded: private messages and salary data. Accounts of members who are likely under 18 are not used.

To object, before {{ deadline }}:
1. Sign in to LinkedIn and click your photo, top right.
2. Settings & Privacy > Data privacy > Data for Generative AI Improvement.
3. Untick "Use my data for training content creation AI models".
Direct address of this setting: https://www.linkedin.com/mypreferences/d/settings/data-for-ai-improvement

Opting out only applies to the future: data already used for training is not removed.

The choice is yours: the company does not ask you to opt out, it only makes sure everyone is informed. We will never ask for your LinkedIn password or any login.
"""

LINKEDIN_AI_OPTOUT = CampaignTemplate(
    slug="linkedin-ai-optout",
    label=_("LinkedIn — generative AI training opt-out"),
    contents={
        "fr": {
            "subject": "LinkedIn utilisera vos données pour son IA si vous ne vous y opposez pas : à vous de choisir",
            "body_text": _LINKEDIN_FR_BODY,
            "body_html": "",
            "page_text": _LINKEDIN_FR_PAGE,
        },
        "en": {
            "subject": "LinkedIn will use your data for its AI unless you object: your choice",
            "body_text": _LINKEDIN_EN_BODY,
            "body_html": "",
            "page_text": _LINKEDIN_EN_PAGE,
        },
    },
    asks_answer=True,
    answer_choices=[
        {
            "value": "opted_out",
            "labels": {
                "fr": "J'ai décoché l'option",
                "en": "I have unticked the option",
            },
        },
        {
            "value": "no_linkedin",
            "labels": {
                "fr": "Je n'utilise pas LinkedIn",
                "en": "I do not use LinkedIn",
            },
        },
        {
            "value": "stay_opted_in",
            "labels": {
                "fr": "Je choisis de laisser l'option activée",
                "en": "I choose to leave the option on",
            },
        },
    ],
    deadline=(2025, 11, 3, 0, 0),
)

TEMPLATES: dict[str, CampaignTemplate] = {LINKEDIN_AI_OPTOUT.slug: LINKEDIN_AI_OPTOUT}


def template_choices() -> list[tuple[str, str]]:
    return [(t.slug, str(t.label)) for t in TEMPLATES.values()]
