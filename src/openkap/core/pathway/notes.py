"""Integration note templates: the sections a note has and the prompt under each.

SOAP and DAP are the usual progress-note shapes; the modality templates prompt
for what that way of working attends to after a medicine session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Section:
    key: str
    label: str
    prompt: str


@dataclass(frozen=True)
class NoteTemplate:
    key: str
    label: str
    sections: tuple[Section, ...]


def _t(key: str, label: str, *sections: tuple[str, str, str]) -> NoteTemplate:
    return NoteTemplate(key, label, tuple(Section(*s) for s in sections))


NOTE_TEMPLATES: Mapping[str, NoteTemplate] = MappingProxyType(
    {
        t.key: t
        for t in (
            _t(
                "soap",
                "SOAP",
                ("subjective", "Subjective", "The patient's account of the medicine session "
                 "and the days since: experiences, mood, sleep, body, relationships."),
                ("objective", "Objective", "What you observed: affect, presentation, measures "
                 "completed since the session, risk screening."),
                ("assessment", "Assessment", "Your clinical understanding: themes, progress "
                 "toward the plan's goals, risk."),
                ("plan", "Plan", "Next steps: practices, commitments, next session, changes "
                 "to the plan to discuss with the prescriber."),
            ),
            _t(
                "dap",
                "DAP",
                ("data", "Data", "What the patient reported and what you observed."),
                ("assessment", "Assessment", "Meaning, themes, progress and risk."),
                ("plan", "Plan", "Practices, commitments and the next session."),
            ),
            _t(
                "ifs",
                "Internal Family Systems",
                ("parts", "Parts that showed up", "Which parts appeared during or after the "
                 "session (protectors, managers, firefighters, exiles) and how they felt toward them."),
                ("self_energy", "Self-energy", "Moments of calm, curiosity, compassion, "
                 "connectedness; what helped the patient unblend."),
                ("burdens", "Burdens and unburdening", "Burdens witnessed or released; what the "
                 "exiles needed; permission from protectors."),
                ("integration", "Integration and next steps", "How the patient will keep "
                 "relating to these parts; check-ins between sessions."),
            ),
            _t(
                "hakomi",
                "Hakomi",
                ("present_experience", "Present experience", "What the patient noticed in the "
                 "body and mind while recalling the session; what mindfulness made available."),
                ("indicators", "Indicators and core material", "Gestures, posture, voice, "
                 "recurring images; core beliefs that surfaced."),
                ("experiments", "Experiments and missing experience", "Probes or small "
                 "experiments offered and what they evoked; the nourishing experience missed."),
                ("integration", "Integration", "How the new experience can be lived day to day."),
            ),
            _t(
                "existential",
                "Existential",
                ("meaning", "Meaning and purpose", "What the session showed about what matters "
                 "to the patient."),
                ("freedom", "Freedom and responsibility", "Choices the patient sees now; what "
                 "they take responsibility for."),
                ("connection", "Isolation and connection", "Experiences of separateness or "
                 "belonging; relationships to tend."),
                ("mortality", "Mortality and finitude", "Thoughts of death, time, loss, and "
                 "how the patient holds them."),
                ("commitments", "Values and commitments", "Concrete commitments that follow "
                 "from the patient's values."),
            ),
            _t(
                "mindfulness",
                "Mindfulness-based",
                ("practice", "Practice", "Formal and informal practice since the session: "
                 "what, how often, what got in the way."),
                ("observations", "Present-moment observations", "Thoughts, emotions and body "
                 "sensations noticed without judgement."),
                ("decentering", "Decentering and insight", "Seeing thoughts as events; patterns "
                 "recognised; self-compassion."),
                ("home_practice", "Home practice", "The practice agreed until the next session."),
            ),
        )
    }
)
