"""The public Q&A of each campaign, from each question's own stream. Hidden questions
keep their text here: the API shows it to staff only."""

from __future__ import annotations

from collections.abc import Sequence

from projections import tables as t
from projections.envelope import EventRecord
from projections.models.base import Batch, ReadModel


def prefetch(batch: Batch, events: Sequence[EventRecord]) -> None:
    batch.rows(t.questions).prefetch((e.stream_id,) for e in events)


def apply(batch: Batch, e: EventRecord) -> None:
    p = e.payload
    questions = batch.rows(t.questions)
    if e.type == "QuestionAsked":
        questions.insert({
            "id": e.stream_id, "campaign_id": p["campaign_id"], "asker_id": p["asker_id"],
            "by_founder": bool(p["by_founder"]), "asked_at": e.occurred_at, "body": p["body"],
            "answer": None, "answerer_id": None, "answered_at": None, "hidden": False,
            "hidden_reason": None, "position": e.position, "last_position": e.position,
        })
        return
    row = questions.require(e.stream_id)
    row["last_position"] = e.position
    if e.type == "QuestionAnswered":
        row["answer"], row["answerer_id"] = p["body"], p["answerer_id"]
        row["answered_at"] = e.occurred_at
    elif e.type == "QuestionHidden":
        row["hidden"], row["hidden_reason"] = True, p["reason"]


MODEL = ReadModel(
    name="questions",
    tables=(t.questions,),
    handles=frozenset({"QuestionAsked", "QuestionAnswered", "QuestionHidden"}),
    apply=apply,
    prefetch=prefetch,
)
