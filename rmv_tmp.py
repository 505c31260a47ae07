import time, functools
from bench.variants import _mapping
from bento_ui import validation as V, kind_checks as K, detail_checks as D, money as M, problems as P
from bento_ui.mapping import apply_mapping
from bento_ui.spreadsheet import read_table
T={}
def wrap(mod, name, label=None):
    f=getattr(mod, name); label=label or name
    def g(*a, **k):
        t=time.perf_counter()
        try: return f(*a, **k)
        finally: T[label]=T.get(label,0)+time.perf_counter()-t
    setattr(mod, name, g)
for n in ["detail_values","_blank","_check_currency","_check_amount","_check_tags"]: wrap(K, n)
wrap(P.Problems, "add", "Problems.add")
wrap(V, "check_kinds")
sheet = read_table("bench/out/events-1000000.csv"); table = apply_mapping(sheet, _mapping(sheet.columns))
t=time.perf_counter(); r = V.validate(table); print("validate", round(time.perf_counter()-t,3))
print({k: round(v,3) for k,v in sorted(T.items(), key=lambda x:-x[1])})
