"""Stand-in for accelerate (see ../README.md): one process on the CPU."""

import torch


class Accelerator:
    process_index = 0
    num_processes = 1
    is_main_process = True
    device = torch.device("cpu")

    def print(self, *a):
        print(*a, flush=True)

    def prepare(self, *objs):
        return objs[0] if len(objs) == 1 else objs

    def backward(self, loss):
        loss.backward()

    def reduce(self, t, reduction="sum"):
        return t

    def clip_grad_norm_(self, params, max_norm):
        return torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], max_norm)

    def wait_for_everyone(self):
        pass

    def unwrap_model(self, model):
        return model

    def get_state_dict(self, model):
        return None

    def save(self, obj, path):
        torch.save(obj, path)
