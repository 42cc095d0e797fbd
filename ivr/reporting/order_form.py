"""The printed order (报修单 / 投诉处理单) for the archive (R5: every repair order archived):
one A4 page with what was reported, by whom and where, each step's time and who took it,
the work done, the materials and the fee, the return visit, and lines to sign.

Drawn with reportlab in its built-in Song typeface (STSong-Light, an Adobe CID font every
PDF reader has), so no font file is shipped and Chinese prints everywhere.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import cache
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ivr.core import labels
from ivr.models import Ticket, TicketKind
from ivr.registry.privacy import mask_number

FONT = "STSong-Light"
LOG_DETAIL_NAMES = {
    "by": "处理人",
    "technician": "维修人员",
    "before": "原维修人员",
    "notes": "备注",
    "reason": "原因",
    "materials": "用料",
    "fee": "收费（元）",
    "level": "级别",
    "role": "负责人",
}


@cache
def _font() -> str:
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


@dataclass(frozen=True)
class Styles:
    title: ParagraphStyle
    body: ParagraphStyle
    small: ParagraphStyle


def _styles() -> Styles:
    font = _font()
    return Styles(
        title=ParagraphStyle("title", fontName=font, fontSize=16, leading=22, alignment=1),
        body=ParagraphStyle("body", fontName=font, fontSize=10, leading=14),
        small=ParagraphStyle("small", fontName=font, fontSize=8.5, leading=12),
    )


def _when(moment: datetime | None, zone: tzinfo) -> str:
    return f"{moment.astimezone(zone):%Y年%m月%d日 %H:%M}" if moment else "—"


def _words(group: str, key: str) -> str:
    return labels.label(group, key)[0]


def _fee(ticket: Ticket) -> str:
    return f"{ticket.fee_fen / 100:.2f} 元" if ticket.fee_fen is not None else "—"


def _facts(ticket: Ticket, zone: tzinfo) -> list[tuple[str, str]]:
    unit = ticket.unit.label if ticket.unit else (ticket.unit_text or "—")
    technician = ticket.technician
    visit = "—"
    if ticket.appointment_start and ticket.appointment_end:
        ends = ticket.appointment_end.astimezone(zone)
        visit = f"{_when(ticket.appointment_start, zone)}–{ends:%H:%M}"
    return [
        ("单号", ticket.number),
        ("受理时间", _when(ticket.created_at, zone)),
        ("报修人", ticket.resident.name if ticket.resident else "—"),
        ("房号", unit),
        ("联系电话", mask_number(ticket.caller_number) or "—"),
        ("类别", _words("ticket_category", ticket.category)),
        ("优先级", labels.TICKET_PRIORITIES.get(ticket.priority.value, ("—", ""))[0]),
        ("状态", _words("ticket_status", ticket.status.value)),
        ("问题描述", ticket.description or ticket.transcription or "—"),
        ("预约上门", visit),
        ("维修人员", f"{technician.display_name} {technician.phone}" if technician else "—"),
        ("派工时间", _when(ticket.dispatched_at, zone)),
        ("到场时间", _when(ticket.on_site_at, zone)),
        ("完成时间", _when(ticket.resolved_at, zone)),
        ("处理情况", ticket.work_note or "—"),
        ("用料", ticket.materials or "—"),
        ("有偿服务收费", _fee(ticket)),
        ("到场时限", _when(ticket.on_site_by, zone)),
        ("完成时限", _when(ticket.resolve_by, zone)),
        ("回访时限", _when(ticket.return_visit_due, zone)),
        ("归档时间", _when(ticket.closed_at, zone)),
    ]


def _history(ticket: Ticket, zone: tzinfo, style: ParagraphStyle) -> list[list[Paragraph]]:
    rows = [[Paragraph(text, style) for text in ("时间", "事项", "详情")]]
    for entry in ticket.log:
        detail = entry.detail or {}
        said = "；".join(
            f"{LOG_DETAIL_NAMES[key]}：{value}"
            for key, value in detail.items()
            if key in LOG_DETAIL_NAMES and value not in (None, "")
        )
        if entry.kind == "return_visit" and isinstance(detail.get("rating"), int):
            said = "评价：" + labels.RATINGS.get(detail["rating"], ("", ""))[0]
        kind = labels.TICKET_LOG.get(entry.kind, (entry.kind, ""))[0]
        cells = (_when(entry.at, zone), kind, said)
        rows.append([Paragraph(escape(text), style) for text in cells])
    return rows


def _table(rows: list[list[Paragraph]], widths: list[float], header: bool = False) -> Table:
    """A ruled table, shaded down its first column (names) or across its header row."""
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    shaded = (-1, 0) if header else (0, -1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), shaded, colors.whitesmoke),
            ]
        )
    )
    return table


def order_form_pdf(ticket: Ticket, zone: tzinfo, hotline_name: str) -> bytes:
    """The order as a one-page PDF (more pages for a long history)."""
    styles = _styles()
    title = "报修单" if ticket.kind == TicketKind.REPAIR else "投诉处理单"
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"{title} {ticket.number}",
        author=hotline_name,
    )
    width = A4[0] - 36 * mm
    facts = [
        [Paragraph(name, styles.body), Paragraph(escape(value), styles.body)]
        for name, value in _facts(ticket, zone)
    ]
    history = _history(ticket, zone, styles.small)
    history_table = _table(history, [38 * mm, 30 * mm, width - 68 * mm], header=True)
    signatures = Table(
        [[Paragraph("维修人员签字：", styles.body), Paragraph("住户签字：", styles.body)]],
        colWidths=[width / 2, width / 2],
        rowHeights=[16 * mm],
    )
    document.build(
        [
            Paragraph(escape(f"{hotline_name} {title}"), styles.title),
            Spacer(1, 4 * mm),
            _table(facts, [30 * mm, width - 30 * mm]),
            Spacer(1, 5 * mm),
            Paragraph("处理记录", styles.body),
            Spacer(1, 1.5 * mm),
            history_table,
            Spacer(1, 8 * mm),
            signatures,
        ]
    )
    return out.getvalue()
