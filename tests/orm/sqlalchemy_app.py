"""SQLAlchemy 2's ordinary operations (ORM session over psycopg 3), each run several times with
other values and sizes, for the ORM corpus test (tests/tests/suite/orm_corpus.rs). Before each run of
an operation it sends `SELECT 'pgscope-op:<name>'`.

usage: sqlalchemy_app.py HOST PORT DBNAME
"""

import sys

from sqlalchemy import String, create_engine, delete, func, select, text, tuple_, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

host, port, dbname = sys.argv[1:4]
engine = create_engine(f"postgresql+psycopg://postgres@{host}:{port}/{dbname}")


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "sa_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    n: Mapped[int] = mapped_column(default=0)


class Pair(Base):
    __tablename__ = "sa_pair"
    a: Mapped[int] = mapped_column(primary_key=True)
    b: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(50))


Base.metadata.create_all(engine)
with Session(engine) as session:
    session.add_all([Item(name=f"seed {i}", n=i) for i in range(50)])
    session.add_all([Pair(a=i, b=i % 7, label=f"p{i}") for i in range(30)])
    session.commit()


def mark(session, op):
    session.execute(text(f"SELECT 'pgscope-op:{op}'"))


for run, size in enumerate([1, 3, 7, 12]):
    with Session(engine) as session:
        mark(session, "get")
        session.get(Item, run + 1)
        mark(session, "filter_in")
        session.scalars(select(Item).where(Item.id.in_(range(1, size + 2)))).all()
        mark(session, "tuple_in")
        pairs = [(i, i % 7) for i in range(size + 1)]
        session.scalars(select(Pair).where(tuple_(Pair.a, Pair.b).in_(pairs))).all()
        mark(session, "count")
        session.scalar(select(func.count()).select_from(Item).where(Item.n > run))
        mark(session, "add_all")
        session.add_all([Item(name=f"new {run} {i}", n=i) for i in range(size + 1)])
        session.flush()
        mark(session, "bulk_update")
        session.execute(
            update(Item),
            [{"id": i + 1, "name": f"upd {run} {i}"} for i in range(size + 1)],
        )
        mark(session, "nested")
        with session.begin_nested():
            session.execute(update(Item).where(Item.id == run + 3).values(n=Item.n + 1))
        mark(session, "nested_rollback")
        nested = session.begin_nested()
        session.execute(delete(Item).where(Item.id == run + 4))
        nested.rollback()
        mark(session, "stream")
        for _ in session.scalars(
            select(Item).where(Item.n >= run).execution_options(yield_per=500)
        ):
            pass
        mark(session, "delete")
        session.execute(delete(Item).where(Item.name.like(f"new {run} %")))
        mark(session, "commit")
        session.commit()

with Session(engine) as session:
    mark(session, "done")
    session.commit()
print("ok")
