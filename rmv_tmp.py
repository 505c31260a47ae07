import time, resource, sys
from bench.variants import _mapping
from bento_ui import validation as V, _arrow_text as A, kind_checks as K, detail_checks as D
from bento_ui.mapping import apply_mapping
from bento_ui.spreadsheet import read_table
T={}
def flt(): return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def wrap(mod, name):
    f=getattr(mod, name)
    def g(*a, **k):
        t=time.perf_counter(); m=flt()
        try: return f(*a, **k)
        finally:
            w,c=T.get(name,(0,0)); T[name]=(w+time.perf_counter()-t, c+flt()-m)
    setattr(mod, name, g)
for n in ["_repeat_candidates","_check_type","_check_size","_check_flat","_flag_repeats","_remove_controls","explode_tags","check_details_json","check_kinds","check_details_overlap","check_tags_cells","_check_email","_rows_in"]:
    wrap(V, n)
for n in ["one_chunk","strip","blank_rows","row_keys","combined_keys","rows", "beside"]:
    wrap(A, n)
import pyarrow as pa
sheet = read_table("bench/out/events-1000000.csv"); table = apply_mapping(sheet, _mapping(sheet.columns))
m=flt(); t=time.perf_counter(); r = V.validate(table); print("validate", round(time.perf_counter()-t,3), "faults", flt()-m)
for k,(w,c) in sorted(T.items(), key=lambda x:-x[1][1]): print(f"{k:22s} {w:.3f}s {c:7d} faults")
