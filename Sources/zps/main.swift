print("zps")
