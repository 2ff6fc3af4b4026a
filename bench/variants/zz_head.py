import runpy
import sys

sys.path.insert(0, "/tmp/headtree")
runpy.run_path("/tmp/headtree/app.py", run_name="__main__")
