"""cnn5 (Caffe cifar10_quick shape) in PyTorch on random 32x32x3 batches: train and inference images/s.
Run by bench/training.ts for a side-by-side ratio; prints one JSON line."""
import argparse, json, time
import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument('--threads', type=int, default=1)
p.add_argument('--images', type=int, default=1000)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1)

net = nn.Sequential(
    nn.Conv2d(3, 32, 5, padding=2), nn.MaxPool2d(3, 2, ceil_mode=True), nn.ReLU(),
    nn.Conv2d(32, 32, 5, padding=2), nn.ReLU(), nn.AvgPool2d(3, 2, ceil_mode=True),
    nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.AvgPool2d(3, 2, ceil_mode=True),
    nn.Flatten(), nn.Linear(64 * 4 * 4, 64), nn.Linear(64, 10))
assert sum(p.numel() for p in net.parameters()) == 145578
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
loss_fn = nn.CrossEntropyLoss()
batches = max(1, a.images // 100)
x = torch.randn(100, 3, 32, 32)
y = torch.randint(0, 10, (100,))

def train(n):
    for _ in range(n):
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()

train(2)
t = time.perf_counter(); train(batches); train_ips = batches * 100 / (time.perf_counter() - t)
with torch.no_grad():
    net(x)
    t = time.perf_counter()
    for _ in range(batches): net(x)
    infer_ips = batches * 100 / (time.perf_counter() - t)
print(json.dumps({'train': train_ips, 'infer': infer_ips}))
