# %% [markdown]
# # CRCNS AA4: inspection of the zebra-finch auditory pallium dataset (strflow port)
#
# The AA4 inspection notebook users know, ported to strflow: only the import lines and
# the dataset constructor changed.  strflow reads the outputs of
# `snakemake --cores 8 results/aa4/qc.pdf` instead of rebuilding the dataset in memory.
# Open it in Jupyter with jupytext, or run it as a script.  `STRFLOW_DATASET`,
# `STRFLOW_ANIMAL` and `STRFLOW_DT_MS` select another processed dataset (CI runs it
# on the synthetic demo).

# %%
# %matplotlib inline
import os

import matplotlib.pyplot as plt
import numpy as np
import torch

import strflow

# Bin width in ms. Typical choices: 1, 5, 10.
DT_MS = float(os.environ.get("STRFLOW_DT_MS", 5))
# Smallest animal — fastest first download / load. Drop this to pull the
# full six-bird corpus.
ANIMAL = os.environ.get("STRFLOW_ANIMAL", "LblBlu2028M")
DATASET = os.environ.get("STRFLOW_DATASET", "results/aa4")

# %% [markdown]
# ## 1. Instantiate the dataset

# %%
ds = strflow.open_dataset(DATASET, animals=(ANIMAL,))
assert ds.dt == DT_MS, f"{DATASET} was processed at {ds.dt} ms"
print(ds)
print(f'first stim_meta: {ds.stim_meta[0]}')
print(f'first nrn_meta: {ds.nrn_meta[0]}')
m = ds.nrn_masks
print(f'nrn_masks shape {tuple(m.shape)} '
      f'valid={int(m.sum())}/{m.numel()} '
      f'coverage={m.float().mean().item():.2%}')

# %% [markdown]
# ## 2. Single-cell view: spectrogram + raster + PSTH

# %%
per_cell_cov = m.sum(dim=0)  # (N,)
n_idx = int(per_cell_cov.argmax().item())
print(f'picked cell {n_idx}: {ds.nrn_meta[n_idx]}')
print(f'  covers {int(per_cell_cov[n_idx].item())}/{m.shape[0]} stims')
valid_s = [s for s in range(m.shape[0]) if m[s, n_idx]]
picks = [valid_s[i] for i in np.linspace(0, len(valid_s) - 1, 4).astype(int)]
print(f'picked stims: {picks}')
for s in picks:
    sm = ds.stim_meta[s]
    print(f"  s={s}: type={sm['type']}/{sm['class']} "
          f"name={sm['name'][:10]}... "
          f"resp shape={tuple(ds.responses[s][n_idx].shape)}")

# %%
fig, axes = plt.subplots(3, len(picks), figsize=(4*len(picks), 8), sharex='col')
for col, s in enumerate(picks):
    spec = ds.stims[s][0].numpy()          # (F, T)
    resp = ds.responses[s][n_idx].numpy()  # (R, T)
    psth = resp.mean(axis=0)               # (T,)
    R, T = resp.shape
    t_axis = np.arange(T) * DT_MS / 1000.0  # seconds

    ax = axes[0, col]
    ax.imshow(spec, origin='lower', aspect='auto',
              extent=[t_axis[0], t_axis[-1], 0, spec.shape[0]])
    ax.set_title(f"s={s} {ds.stim_meta[s]['type']}/{ds.stim_meta[s]['class']}")
    if col == 0:
        ax.set_ylabel('mel band')

    ax = axes[1, col]
    ax.imshow(resp, origin='lower', aspect='auto', cmap='gray_r',
              extent=[t_axis[0], t_axis[-1], 0, R])
    if col == 0:
        ax.set_ylabel('trial')

    ax = axes[2, col]
    ax.plot(t_axis, psth)
    ax.set_xlabel('time (s)')
    if col == 0:
        ax.set_ylabel('PSTH (smoothed)')

plt.suptitle(f"cell {n_idx}: {ds.nrn_meta[n_idx]['cell_id']}", y=1.02)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Population PSTH raster for one stim

# %%
per_stim_cov = m.sum(dim=1)
s_idx = int(per_stim_cov.argmax().item())
print(f"picked stim {s_idx}: {ds.stim_meta[s_idx]} covered by "
      f"{int(per_stim_cov[s_idx].item())}/{m.shape[1]} cells")

T = ds.stims[s_idx].shape[-1]
N = ds.N_neurons
psth_pop = np.full((N, T), np.nan, dtype=np.float32)
for n in range(N):
    if m[s_idx, n]:
        psth_pop[n] = ds.responses[s_idx][n].numpy().mean(axis=0)

# normalise each *valid* row to its own max so rasters across cells are comparable
with np.errstate(invalid='ignore'):
    row_max = np.nanmax(psth_pop, axis=1, keepdims=True)
    row_max[row_max == 0] = 1.0
    psth_pop_norm = psth_pop / row_max

# %%
fig, axes = plt.subplots(2, 1, figsize=(10, 8), sharex=True,
                         gridspec_kw={'height_ratios': [1, 4]})
spec = ds.stims[s_idx][0].numpy()
t_axis = np.arange(T) * DT_MS / 1000.0
axes[0].imshow(spec, origin='lower', aspect='auto',
               extent=[t_axis[0], t_axis[-1], 0, spec.shape[0]])
axes[0].set_title(f"stim s={s_idx}  type={ds.stim_meta[s_idx]['type']}  "
                  f"class={ds.stim_meta[s_idx]['class']}")
axes[0].set_ylabel('mel band')

# NaN cells get a distinctive grey via cmap.set_bad
cmap = plt.get_cmap('viridis').copy()
cmap.set_bad(color='lightgrey')
im = axes[1].imshow(np.ma.masked_invalid(psth_pop_norm),
                    origin='lower', aspect='auto', cmap=cmap,
                    extent=[t_axis[0], t_axis[-1], 0, N],
                    interpolation='nearest')
axes[1].set_xlabel('time (s)')
axes[1].set_ylabel('neuron index')
fig.colorbar(im, ax=axes[1], label='normalised PSTH')
n_invalid = int((~m[s_idx]).sum())
axes[1].text(0.01, 0.99,
             f'grey rows = {n_invalid} cell(s) that did NOT hear this stim '
             f'(NaN sentinel)',
             transform=axes[1].transAxes, va='top', fontsize=9,
             bbox=dict(facecolor='white', alpha=0.85, edgecolor='lightgrey'))
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Demo of the filter API

# %%
sel = ds.select_pop_by_nrn_attr('animal_id', ANIMAL)
print(f"select_pop_by_nrn_attr('animal_id', '{ANIMAL}') -> {len(sel)} neurons")
print(f"  len(ds) under this selection: {len(ds)}")

sel = ds.select_pop_by_stim_attr('type', 'song')
print(f"select_pop_by_stim_attr('type', 'song') -> {len(sel)} neurons "
      f"(at least one song response)")

ds.reset_pop_selection()
print(f"reset_pop_selection() -> len(ds) = {len(ds)} (back to all neurons)")

s_sel = ds.select_stims_by_attr('type', 'song')
print(f"select_stims_by_attr('type', 'song') -> {len(s_sel)} stims, "
      f"len(ds) = {len(ds)}")
ds.reset_stim_selection()
print(f"reset_stim_selection() -> len(ds) = {len(ds)}")

# %% [markdown]
# ## 5. Cells by electrode # (sanity check on spatial structure)

# %%
order = sorted(range(N), key=lambda i: (
    ds.nrn_meta[i]['electrode'],
    ds.nrn_meta[i].get('subsort_id') or 0,
))
psth_pop_norm_reord = psth_pop_norm[order]
electrodes = [ds.nrn_meta[i]['electrode'] for i in order]

fig, ax = plt.subplots(figsize=(10, 6))
im = ax.imshow(np.ma.masked_invalid(psth_pop_norm_reord),
               origin='lower', aspect='auto', cmap=cmap,
               extent=[t_axis[0], t_axis[-1], 0, N],
               interpolation='nearest')
ax.set_xlabel('time (s)')
ax.set_ylabel('neuron (re-sorted by electrode, subsort_id)')
ax.set_title(f"stim s={s_idx} — cells sorted by electrode #")
fig.colorbar(im, ax=ax, label='normalised PSTH')

# overlay electrode-number ticks on the right y-axis
ax2 = ax.twinx()
ax2.set_ylim(ax.get_ylim())
tick_y = np.arange(N) + 0.5
ax2.set_yticks(tick_y[::4])
ax2.set_yticklabels([f'e{electrodes[i]}' for i in range(0, N, 4)], fontsize=7)
ax2.set_ylabel('electrode')

# horizontal line at the e16 -> e17 boundary (candidate hemisphere split)
boundary = next((y for y, e in enumerate(electrodes) if e > 16), None)
if boundary is not None:
    ax.axhline(boundary, color='red', linestyle='--', linewidth=1)
    ax.text(t_axis[-1] * 0.99, boundary + 0.5, ' e16/e17 boundary',
            color='red', ha='right', va='bottom', fontsize=8)
plt.tight_layout()
plt.show()
