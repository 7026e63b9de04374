"""Django's ordinary operations, each run several times with other values and sizes, for the
ORM corpus test (tests/tests/suite/orm_corpus.rs). Before each run of an operation it sends
`SELECT 'pgscope-op:<name>'`, so the test can tell which statements one run sent.

usage: django_app.py HOST PORT DBNAME server|client  (server- or client-side parameter binding)
"""

import sys

import django
from django.conf import settings

host, port, dbname, binding = sys.argv[1:5]
settings.configure(
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": host,
            "PORT": port,
            "NAME": dbname,
            "USER": "postgres",
            "OPTIONS": {"server_side_binding": binding == "server"},
        }
    },
    INSTALLED_APPS=["django.contrib.contenttypes"],
    USE_TZ=True,
)
django.setup()

from django.db import connection, models, transaction  # noqa: E402
from django.db.models import F  # noqa: E402


class Item(models.Model):
    name = models.CharField(max_length=100)
    n = models.IntegerField(default=0)

    class Meta:
        app_label = "contenttypes"
        db_table = "dj_item"


class Pair(models.Model):
    pk = models.CompositePrimaryKey("a", "b")
    a = models.IntegerField()
    b = models.IntegerField()
    label = models.CharField(max_length=50)

    class Meta:
        app_label = "contenttypes"
        db_table = "dj_pair"


def mark(op):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 'pgscope-op:{op}'")


with connection.schema_editor() as editor:
    editor.create_model(Item)
    editor.create_model(Pair)
Item.objects.bulk_create([Item(name=f"seed {i}", n=i) for i in range(50)])
Pair.objects.bulk_create([Pair(a=i, b=i % 7, label=f"p{i}") for i in range(30)])


class Rollback(Exception):
    pass


for run, size in enumerate([1, 3, 7, 12]):
    mark("get")
    Item.objects.get(pk=run + 1)
    mark("filter_in")
    list(Item.objects.filter(id__in=list(range(1, size + 2))).order_by("-id"))
    mark("filter_range")
    list(Item.objects.filter(n__gte=run, n__lt=run + size).order_by("name")[:10])
    mark("count")
    Item.objects.filter(name__startswith=f"seed {run}").count()
    mark("create")
    Item.objects.create(name=f"new {run}", n=run)
    mark("bulk_create")
    Item.objects.bulk_create([Item(name=f"bulk {run} {i}", n=i) for i in range(size + 1)])
    mark("bulk_update")
    items = list(Item.objects.order_by("id")[: size + 1])
    for item in items:
        item.name = f"renamed {run} {item.id}"
    Item.objects.bulk_update(items, ["name"])
    mark("update")
    Item.objects.filter(pk=run + 2).update(n=F("n") + run)
    mark("nested_atomic")
    with transaction.atomic():
        Item.objects.filter(pk=run + 3).update(name=f"atomic {run}")
        with transaction.atomic():
            Item.objects.filter(pk=run + 4).update(n=F("n") - 1)
    mark("nested_rollback")
    with transaction.atomic():
        try:
            with transaction.atomic():
                Item.objects.filter(pk=run + 5).delete()
                raise Rollback()
        except Rollback:
            pass
    mark("iterator")
    with transaction.atomic():
        list(Item.objects.filter(n__gte=run).iterator(chunk_size=500))
    mark("iterator_autocommit")
    list(Item.objects.filter(name__contains=str(run)).iterator(chunk_size=500))
    mark("pair_in")
    list(Pair.objects.filter(pk__in=[(i, i % 7) for i in range(size + 1)]))
    mark("pair_get")
    Pair.objects.get(pk=(run, run % 7))
    mark("delete")
    Item.objects.filter(name=f"new {run}").delete()

mark("done")
print("ok")
