"""Building blocks shared by several papers, each written out so it can be read.

- ``recurrent``: LSTM and GRU cells and stacks, gate by gate in torch's parameter layout, with
  torch's fused kernel on the fast path (``fused=True``) and a test that the two agree; truncated
  BPTT with the state carried across windows, and the cross-entropy of a long stream.
- ``attention``: additive (Bahdanau) attention; scaled dot-product attention, explicit and
  fused; multi-head attention with torch's parameter names and masks; a KV cache.
- ``transformer``: sinusoidal positions, the Transformer layer (post-LN or pre-LN, with
  optional cross-attention) and the decoder-only language model with cached generation.
- ``decoding``: greedy, temperature, top-k and top-p sampling, and beam search with length
  normalization, over any step function.
- ``pointer``: pointer attention over input positions, the pointer decoder and Set2Set.
- ``memory``: the Neural Turing Machine's addressing, reads and erase-and-add writes, batched.
- ``relational_memory``: the Relational Memory Core, slots attending over memory and input,
  with LSTM-style gates.
- ``ctc``: the CTC loss by the log-space forward-backward recursion with its gradient, equal
  to ``F.ctc_loss``; greedy and prefix beam-search decoding.
- ``vit``: the Vision Transformer that ``vit``, ``vit-registers``, ``aim`` and ``no-zero-shot``
  configure (class token, registers, prefix-causal attention, mean pooling), in timm's parameter
  names; mean attention distance per head; the ViT-Ti/S/B/L constructors.
- ``diffusion``: β schedules, forward noising, ε/x_0/v conversions, DDPM and DDIM steps and
  sampling loops, classifier-free guidance, the simple loss; equal to diffusers' schedulers.
  Shared by ``latent-diffusion`` and ``imagine-flash``.
- ``unet``: a small conditional UNet (timestep embedding, ResBlocks, self- and cross-attention
  at low resolution, a learned class embedding with a null token for guidance).
- ``autoencoder``: a small KL-regularized autoencoder (diagonal Gaussian latent, closed-form
  KL, the latent scale factor) for diffusion in latent space.
"""
