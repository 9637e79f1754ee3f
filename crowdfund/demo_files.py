"""The demo offerings' files, made at start-up without the network: an offering statement
(Form C or key investment information sheet) as a PDF with fpdf2, and a cover image as a
PNG drawn with Pillow. Both are deterministic, so the same demo files the same bytes."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fpdf import FPDF
from PIL import Image, ImageDraw

# Fixed metadata: the same content gives the same SHA-256 on every start.
_CREATED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
COVER_SIZE = (1200, 630)  # the Open Graph image ratio


@dataclass(frozen=True)
class Section:
    heading: str
    paragraphs: Sequence[str]


def statement_pdf(title: str, subtitle: str, warning: str, sections: Sequence[Section]) -> bytes:
    """A plain, paginated offering statement (core fonts: Latin-1 text only)."""
    pdf = FPDF(format="Letter")
    pdf.set_creation_date(_CREATED)
    pdf.set_producer("crowdfund demo")
    pdf.set_title(title)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_margins(22, 22, 22)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.multi_cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.set_text_color(90, 90, 90)
    pdf.multi_cell(0, 6, subtitle, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_text_color(120, 20, 20)
    pdf.set_font("Helvetica", "B", 10)
    pdf.multi_cell(0, 5.5, warning, border=1, padding=3, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    for number, section in enumerate(sections, start=1):
        pdf.ln(5)
        pdf.set_font("Helvetica", "B", 13)
        pdf.multi_cell(0, 7, f"{number}. {section.heading}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10.5)
        for paragraph in section.paragraphs:
            pdf.multi_cell(0, 5.5, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.5)
    return bytes(pdf.output())


def cover_png(top: tuple[int, int, int], bottom: tuple[int, int, int], motif: str) -> bytes:
    """A gradient with a simple motif ("bubbles" or "sun"), small as a palette PNG."""
    width, height = COVER_SIZE
    image = Image.new("RGB", COVER_SIZE)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / (height - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (width, y)], fill=colour)
    if motif == "bubbles":
        for i in range(24):
            x = (i * 173) % width
            y = height - (i * 97) % height
            r = 8 + (i * 7) % 34
            draw.ellipse([x - r, y - r, x + r, y + r], outline=(255, 255, 255), width=3)
        draw.rounded_rectangle([520, 230, 680, 580], radius=38, fill=(214, 140, 60))  # a bottle
        draw.rectangle([572, 150, 628, 240], fill=(214, 140, 60))
        draw.rectangle([564, 126, 636, 154], fill=(40, 40, 40))
        draw.rectangle([520, 340, 680, 450], fill=(250, 246, 236))
    else:
        draw.ellipse([900, 70, 1060, 230], fill=(255, 214, 102))
        for i in range(12):
            angle = i * math.pi / 6
            x0, y0 = 980 + 100 * math.cos(angle), 150 + 100 * math.sin(angle)
            x1, y1 = 980 + 130 * math.cos(angle), 150 + 130 * math.sin(angle)
            draw.line([(x0, y0), (x1, y1)], fill=(255, 214, 102), width=6)
        draw.rectangle([190, 430, 690, 560], fill=(150, 52, 40))  # the barn
        draw.rectangle([400, 480, 480, 560], fill=(90, 40, 30))
        draw.polygon([(150, 432), (730, 432), (650, 320), (230, 320)], fill=(92, 70, 60))
        for row in range(3):
            y = 330 + row * 34
            count = 6 + row  # the roof widens towards the eaves
            for col in range(count):
                x = 440 - (count * 52 - 6) // 2 + col * 52
                draw.rectangle([x, y, x + 46, y + 28], fill=(32, 58, 112),
                               outline=(200, 210, 230))
        draw.rectangle([0, 560, width, height], fill=(86, 140, 62))
    out = io.BytesIO()
    image.quantize(colors=64).save(out, "PNG", optimize=True)
    return out.getvalue()
