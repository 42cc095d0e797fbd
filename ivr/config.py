"""Every setting, read once from the environment (one line each)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """A setting is missing or malformed; start-up stops with this message."""


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from exc


def env_days(name: str, default: int) -> int:
    """A number of days, at least one."""
    days = env_int(name, default)
    if days < 1:
        raise ConfigError(f"{name} must be at least 1 (days), not {days}")
    return days


def env_bool(name: str, default: bool = False) -> bool:
    raw = env_str(name).lower()
    if not raw:
        return default
    return raw in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class BusinessHours:
    opens: time
    closes: time

    @classmethod
    def parse(cls, text: str) -> BusinessHours:
        try:
            start, end = (part.strip() for part in text.split("-"))
            opens, closes = time.fromisoformat(start), time.fromisoformat(end)
        except ValueError as exc:
            raise ConfigError(f"BUSINESS_HOURS must look like 07:00-21:00, not {text!r}") from exc
        if closes <= opens:
            raise ConfigError(f"BUSINESS_HOURS closes before it opens: {text!r}")
        return cls(opens, closes)

    def __str__(self) -> str:
        return f"{self.opens:%H:%M}-{self.closes:%H:%M}"


def parse_holidays(text: str) -> frozenset[date]:
    """`2026-10-01,2026-10-02`, or `@path` to a file with one ISO date per line (# comments)."""
    if text.startswith("@"):
        text = ",".join(
            line.split("#", 1)[0]
            for line in Path(text[1:]).read_text(encoding="utf-8").splitlines()
        )
    days = [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
    try:
        return frozenset(date.fromisoformat(day) for day in days)
    except ValueError as exc:
        raise ConfigError(f"HOTLINE_HOLIDAYS must list dates like 2026-10-01: {exc}") from exc


def env_numbers(name: str) -> tuple[str, ...]:
    """Comma-separated E.164 phone numbers."""
    numbers = tuple(part.strip() for part in env_str(name).split(",") if part.strip())
    for number in numbers:
        if not (number.startswith("+") and number[1:].isdigit() and 8 <= len(number) <= 16):
            raise ConfigError(f"{name}: {number!r} is not a phone number in E.164 form (+86...)")
    return numbers


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"HOTLINE_TIMEZONE {name!r} is not a known time zone") from exc


def _local_secret(data_dir: Path, name: str) -> str:
    """A per-installation secret kept in the data folder, so `ivr call` can sign too."""
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(16)
    path.write_text(value)
    path.chmod(0o600)
    return value


@dataclass(frozen=True)
class Settings:
    env: str
    data_dir: Path
    hotline_name: str
    hotline_number: str
    public_base_url: str
    trusted_proxies: int
    twilio_account_sid: str
    twilio_auth_token: str
    api_token: str
    secret_key: str
    database_url: str
    redis_url: str
    business_hours: BusinessHours
    timezone: ZoneInfo
    default_locale: str
    prompts_dir: Path
    spool_dir: Path
    holidays: frozenset[date] = frozenset()
    closed: bool = False
    hotline_name_en: str = "Happy Home Property"  # the name English callers hear
    oncall_ladder: tuple[str, ...] = ()
    escalation_contacts: tuple[str, ...] = ()
    queue_max_wait_s: int = 120
    queue_seconds_per_caller: int = 90
    retention_days: int = 365
    redis_timeout_s: float = 0.25
    redis_retry_after_s: float = 2.0
    login_rate_limit: str = "10 per minute"  # refused sign-ins per address
    state_key: str = ""  # seals call state in action URLs; empty: derived from secret_key
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def hotline_name_in(self, locale: str) -> str:
        """The hotline's name as a caller of `locale` hears it: English callers hear no Chinese."""
        return self.hotline_name_en if locale.startswith("en") else self.hotline_name

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def load_settings() -> Settings:
    env = env_str("IVR_ENV", "development")
    data_dir = Path(env_str("IVR_DATA_DIR", "var")).resolve()
    settings = Settings(
        env=env,
        data_dir=data_dir,
        hotline_name=env_str("HOTLINE_NAME", "幸福家园物业"),
        hotline_number=env_str("HOTLINE_NUMBER", "+8657112345678"),
        public_base_url=env_str("PUBLIC_BASE_URL").rstrip("/"),
        trusted_proxies=env_int("IVR_TRUSTED_PROXIES", 0),
        twilio_account_sid=env_str("TWILIO_ACCOUNT_SID"),
        twilio_auth_token=env_str("TWILIO_AUTH_TOKEN") or _dev_secret(env, data_dir, "auth-token"),
        api_token=env_str("IVR_API_TOKEN") or _dev_secret(env, data_dir, "api-token"),
        secret_key=env_str("SECRET_KEY") or _dev_secret(env, data_dir, "secret-key"),
        database_url=env_str("DATABASE_URL") or f"sqlite:///{data_dir / 'ivr.sqlite3'}",
        redis_url=env_str("REDIS_URL"),
        business_hours=BusinessHours.parse(env_str("BUSINESS_HOURS", "07:00-21:00")),
        timezone=_zone(env_str("HOTLINE_TIMEZONE", "Asia/Shanghai")),
        default_locale=env_str("HOTLINE_LOCALE", "zh-CN"),
        prompts_dir=Path(env_str("IVR_PROMPTS_DIR") or PROJECT_ROOT / "prompts"),
        spool_dir=data_dir / "spool",
        holidays=parse_holidays(env_str("HOTLINE_HOLIDAYS")),
        closed=env_bool("HOTLINE_CLOSED"),
        hotline_name_en=env_str("HOTLINE_NAME_EN", "Happy Home Property"),
        oncall_ladder=env_numbers("ONCALL_LADDER"),
        escalation_contacts=env_numbers("ESCALATION_CONTACTS"),
        queue_max_wait_s=env_int("QUEUE_MAX_WAIT_S", 120),
        queue_seconds_per_caller=env_int("QUEUE_SECONDS_PER_CALLER", 90),
        retention_days=env_days("RETENTION_DAYS", 365),
        login_rate_limit=env_str("LOGIN_RATE_LIMIT", "10 per minute"),
        state_key=env_str("IVR_STATE_KEY"),
    )
    check_production(settings)
    return settings


def _dev_secret(env: str, data_dir: Path, name: str) -> str:
    return "" if env == "production" else _local_secret(data_dir, name)


def check_production(settings: Settings) -> None:
    """Refuse to start a production hotline without its secrets."""
    if not settings.is_production:
        return
    required = {
        "TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
        "IVR_API_TOKEN": settings.api_token,
        "SECRET_KEY": settings.secret_key,
        "PUBLIC_BASE_URL": settings.public_base_url,
    }
    missing = [name for name, value in required.items() if not value]
    if missing:
        raise ConfigError("IVR_ENV=production needs " + ", ".join(missing))
