"""Stand-in of the agent's src/models/database.py: one session per use, commit on a clean exit."""

from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.orm import declarative_base, sessionmaker

from src.utils.config import get_config

Base = declarative_base()
_engine = None
_SessionLocal = None


def get_engine():
    global _engine
    if _engine is None:
        url = get_config()["database"]["url"]
        args = {"check_same_thread": False} if "sqlite" in url else {}
        _engine = create_engine(url, connect_args=args)
    return _engine


def get_session_factory():
    global _SessionLocal
    if _SessionLocal is None:
        _SessionLocal = sessionmaker(autocommit=False, autoflush=False, bind=get_engine())
    return _SessionLocal


def init_db():
    from src.models import pending_suggestion, processed_granola_note, task  # noqa: F401

    Base.metadata.create_all(bind=get_engine())


@contextmanager
def get_db_session():
    db = get_session_factory()()
    try:
        yield db
        db.commit()
    except Exception:
        db.rollback()
        raise
    finally:
        db.close()


def reset_engine():
    global _engine, _SessionLocal
    if _engine is not None:
        _engine.dispose()
    _engine = None
    _SessionLocal = None
