print("zps-bench")
