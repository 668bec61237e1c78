"""``repro doctor``: checks of the engine, the locks and the driver/CUDA stack, with fixes."""
