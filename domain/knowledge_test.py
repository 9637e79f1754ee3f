"""The investor knowledge tests, as plain data: one per regime, graded on the server.

REG_CF: the questionnaire of 17 CFR 227.303(b)(2)(i)-(ii) on cancellation rights
(227.304), resale restrictions (227.501: 12 months) and the risk of losing the whole
investment. ECSP: the entry knowledge test of Reg. (EU) 2020/1503 Art. 21 on the same,
plus the 4-day reflection period (Art. 22). Question ids are stable: a new wording
gets a new id. The index of the right choice never leaves the server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from domain.errors import ValidationError
from domain.rulebook import Regime, knowledge_test_pass_mark


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    choices: tuple[str, ...]
    correct: int  # index into `choices`; never sent to a client


@dataclass(frozen=True)
class Grade:
    score: int
    out_of: int

    @property
    def passed(self) -> bool:
        return self.score >= knowledge_test_pass_mark(self.out_of)


_LOSE_ALL = Question(
    "loss-1",
    "If the company you invest in fails, how much of your investment can you lose?",
    ("None of it: crowdfunding investments are guaranteed",
     "At most half of it",
     "All of it",
     "Only the platform's fees"),
    2,
)
_NO_GUARANTEE = Question(
    "loss-2",
    "Is your investment covered by a deposit guarantee or investor compensation scheme?",
    ("Yes, up to the legal maximum", "No", "Only if the platform fails",
     "Only for amounts below 1,000"),
    1,
)
_AFFORD = Question(
    "loss-3",
    "How much of your savings should you put into crowdfunding offerings?",
    ("All of it, to maximise the return",
     "Only money you can afford to lose entirely, spread over several offerings",
     "As much as the platform lets you",
     "Money you will need within a year"),
    1,
)

REG_CF_QUESTIONS: tuple[Question, ...] = (
    Question(
        "regcf-cancel-1",
        "Until when can you cancel an investment commitment for any reason?",
        ("Never: a commitment is final",
         "Until 48 hours before the offering's deadline",
         "Until the shares are issued",
         "Until 12 months after the offering closes"),
        1,
    ),
    Question(
        "regcf-cancel-2",
        "The issuer makes a material change to the offering. What happens to your "
        "commitment if you do not reconfirm it within 5 business days?",
        ("It is cancelled and your money is returned",
         "It stays in force under the new terms",
         "It is doubled",
         "Nothing: reconfirmation is optional"),
        0,
    ),
    Question(
        "regcf-resale-1",
        "For how long after you buy them can you generally not resell securities bought "
        "in a Regulation Crowdfunding offering (17 CFR 227.501)?",
        ("There is no restriction", "30 days", "12 months", "5 years"),
        2,
    ),
    Question(
        "regcf-resale-2",
        "After the resale restriction ends, will there be a market where you can easily "
        "sell your shares?",
        ("Yes, they are listed on a stock exchange",
         "Not necessarily: there may be no buyer at any price",
         "Yes, the platform must buy them back",
         "Yes, the issuer must buy them back"),
        1,
    ),
    _LOSE_ALL,
    _AFFORD,
)

ECSP_QUESTIONS: tuple[Question, ...] = (
    Question(
        "ecsp-reflection-1",
        "After you make an offer to invest, for how long may you revoke it without giving "
        "a reason and without penalty?",
        ("Not at all", "For 4 calendar days", "For 14 business days",
         "Until the project owner accepts it"),
        1,
    ),
    Question(
        "ecsp-reflection-2",
        "The offering's deadline passes 2 hours after you made your offer. May you still "
        "revoke it?",
        ("No, the deadline ends the reflection period",
         "Yes, until 4 calendar days after you made the offer",
         "Only with the project owner's consent",
         "Only by paying a penalty"),
        1,
    ),
    Question(
        "ecsp-cancel-1",
        "The terms of the offering change materially. What happens to your offer if you "
        "do not reconfirm it in time?",
        ("It is cancelled and your money is returned",
         "It stays in force under the new terms",
         "It becomes a loan to the project owner",
         "Nothing: reconfirmation is optional"),
        0,
    ),
    Question(
        "ecsp-resale-1",
        "Can you expect to sell crowdfunding shares quickly at a fair price?",
        ("Yes, on any stock exchange",
         "No: they may be impossible to sell, there is often no market for them",
         "Yes, the platform guarantees a buyer",
         "Yes, after 30 days"),
        1,
    ),
    _LOSE_ALL,
    _NO_GUARANTEE,
    _AFFORD,
)

TESTS: Mapping[Regime, tuple[Question, ...]] = {
    Regime.REG_CF: REG_CF_QUESTIONS, Regime.ECSP: ECSP_QUESTIONS,
}


def questions(regime: Regime) -> tuple[Question, ...]:
    return TESTS[regime]


def grade(regime: Regime, answers: Mapping[str, int]) -> Grade:
    """How many answers are right; every question answered once, with a valid choice."""
    asked = {q.id: q for q in TESTS[regime]}
    unknown = sorted(set(answers) - set(asked))
    if unknown:
        raise ValidationError(
            f"{unknown[0][:64]!r} is not a question of the {regime.value} test.", "answers",
        )
    missing = [qid for qid in asked if qid not in answers]
    if missing:
        raise ValidationError(
            f"Answer every question of the {regime.value} test ({len(missing)} unanswered).",
            "answers",
        )
    score = 0
    for qid, choice in answers.items():
        question = asked[qid]
        if not 0 <= choice < len(question.choices):
            raise ValidationError(
                f"The answer to {qid!r} must be a choice from 0 to "
                f"{len(question.choices) - 1}.", "answers",
            )
        score += choice == question.correct
    return Grade(score=score, out_of=len(asked))


def answer_sheet(answers: Iterable[tuple[str, int]]) -> dict[str, int]:
    """(question id, choice) pairs as a map; a question answered twice is refused."""
    sheet: dict[str, int] = {}
    for question_id, choice in answers:
        if question_id in sheet:
            raise ValidationError(f"{question_id[:64]!r} is answered twice.", "answers")
        sheet[question_id] = int(choice)
    return sheet
