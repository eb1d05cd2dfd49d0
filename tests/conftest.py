import os

import torch

# The suite runs many tiny ops; one intra-op thread avoids OpenMP oversubscription on the
# 2-core CI machine (measured: ~0.03 s vs ~2 s per tiny forward+backward under load).
torch.set_num_threads(1)
os.environ.setdefault("TQDM_DISABLE", "1")
