"""The one registry of papers. The CLI, the report and the tests all read it.

Entries are plain data so that ``landmarks list`` answers without importing torch. Each entry
names the module that implements it; that module carries the paper's ``CARD`` and its
``Config``, ``PRESETS`` and ``reproduce(cfg, run)``.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from types import ModuleType

from landmarks.errors import UserInputError

TRACKS = {
    1: "recurrence, attention and sequences",
    2: "convolutional vision",
    3: "information, compression and intelligence",
    4: "scale",
    5: "2022 and vision transformers",
    6: "2024",
    7: "the practitioner's toolkit",
}


@dataclass(frozen=True)
class Paper:
    id: str
    title: str
    authors: str
    year: int
    url: str  # arXiv abs page or the canonical URL
    track: int
    takeaway: str  # one line
    module: str  # dotted path of the implementing module

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


@dataclass(frozen=True)
class ClaimSpec:
    """A claim as the card states it, before any run: statement, threshold, paper's figure."""

    statement: str
    threshold: str
    paper_value: str


@dataclass(frozen=True)
class Card:
    """What a reader needs beside the code: citation, figures, what the toy keeps and shrinks."""

    citation: str
    takeaways: list[str]
    claims: list[ClaimSpec]
    keeps: list[str]
    shrinks: list[str]
    figures: dict[str, str] = field(default_factory=dict)  # the paper's reference numbers
    notes: str = ""


PAPERS: list[Paper] = [
    Paper(
        id="lstm",
        title="Understanding LSTM Networks",
        authors="Christopher Olah",
        year=2015,
        url="https://colah.github.io/posts/2015-08-Understanding-LSTMs/",
        track=1,
        takeaway="Gated cell state lets gradients survive long time lags where a vanilla RNN's vanish.",
        module="landmarks.papers.lstm",
    ),
    Paper(
        id="char-rnn",
        title="The Unreasonable Effectiveness of Recurrent Neural Networks",
        authors="Andrej Karpathy",
        year=2015,
        url="https://karpathy.github.io/2015/05/21/rnn-effectiveness/",
        track=1,
        takeaway="A character-level LSTM learns spelling, play format and interpretable cells from next-character prediction alone.",
        module="landmarks.papers.char_rnn",
    ),
    Paper(
        id="rnn-regularization",
        title="Recurrent Neural Network Regularization",
        authors="Wojciech Zaremba, Ilya Sutskever, Oriol Vinyals",
        year=2014,
        url="https://arxiv.org/abs/1409.2329",
        track=1,
        takeaway="Dropout on an LSTM's non-recurrent connections only stops a large language model overfitting; dropping the recurrent ones hurts.",
        module="landmarks.papers.rnn_regularization",
    ),
    Paper(
        id="bahdanau-attention",
        title="Neural Machine Translation by Jointly Learning to Align and Translate",
        authors="Dzmitry Bahdanau, Kyunghyun Cho, Yoshua Bengio",
        year=2015,
        url="https://arxiv.org/abs/1409.0473",
        track=1,
        takeaway="Attention over every source word removes the fixed-vector bottleneck: no loss on long sentences, and soft alignments for free.",
        module="landmarks.papers.bahdanau_attention",
    ),
    Paper(
        id="transformer",
        title="Attention Is All You Need",
        authors="Ashish Vaswani, Noam Shazeer, Niki Parmar, Jakob Uszkoreit, Llion Jones, Aidan N. Gomez, Łukasz Kaiser, Illia Polosukhin",
        year=2017,
        url="https://arxiv.org/abs/1706.03762",
        track=1,
        takeaway="Self-attention replaces recurrence: every position sees every other in one parallel step, for better translations at a fraction of the training cost.",
        module="landmarks.papers.transformer",
    ),
    Paper(
        id="pointer-networks",
        title="Pointer Networks",
        authors="Oriol Vinyals, Meire Fortunato, Navdeep Jaitly",
        year=2015,
        url="https://arxiv.org/abs/1506.03134",
        track=1,
        takeaway="Attention used as the output points at input positions, so one model solves convex hulls and small TSPs of any size.",
        module="landmarks.papers.pointer_networks",
    ),
    Paper(
        id="order-matters",
        title="Order Matters: Sequence to Sequence for Sets",
        authors="Oriol Vinyals, Samy Bengio, Manjunath Kudlur",
        year=2016,
        url="https://arxiv.org/abs/1511.06391",
        track=1,
        takeaway="Read a set with attention, not an LSTM over an arbitrary order: the order-invariant Read-Process-Write model sorts better with more process steps.",
        module="landmarks.papers.order_matters",
    ),
    Paper(
        id="ntm",
        title="Neural Turing Machines",
        authors="Alex Graves, Greg Wayne, Ivo Danihelka",
        year=2014,
        url="https://arxiv.org/abs/1410.5401",
        track=1,
        takeaway="A controller with a memory it reads and writes by soft attention learns to copy, and keeps copying past the lengths it was trained on.",
        module="landmarks.papers.ntm",
    ),
    Paper(
        id="relational-rnn",
        title="Relational Recurrent Neural Networks",
        authors="Adam Santoro, Ryan Faulkner, David Raposo, Jack Rae, Mike Chrzanowski, Théophane Weber, Daan Wierstra, Oriol Vinyals, Razvan Pascanu, Timothy Lillicrap",
        year=2018,
        url="https://arxiv.org/abs/1806.01822",
        track=1,
        takeaway="Memory slots that attend to each other at every step can compare what they store: the N-th farthest vector, out of an LSTM's reach.",
        module="landmarks.papers.relational_rnn",
    ),
    Paper(
        id="mpnn",
        title="Neural Message Passing for Quantum Chemistry",
        authors="Justin Gilmer, Samuel S. Schoenholz, Patrick F. Riley, Oriol Vinyals, George E. Dahl",
        year=2017,
        url="https://arxiv.org/abs/1704.01212",
        track=1,
        takeaway="Atoms pass messages along bonds, update their states and a set2set readout predicts the molecule's properties: one framework for graph networks.",
        module="landmarks.papers.mpnn",
    ),
    Paper(
        id="relation-networks",
        title="A Simple Neural Network Module for Relational Reasoning",
        authors="Adam Santoro, David Raposo, David G. T. Barrett, Mateusz Malinowski, Razvan Pascanu, Peter Battaglia, Timothy Lillicrap",
        year=2017,
        url="https://arxiv.org/abs/1706.01427",
        track=1,
        takeaway="One MLP applied to every pair of objects and summed: relations built in, so questions about how objects relate become easy where a CNN + MLP fails.",
        module="landmarks.papers.relation_networks",
    ),
    Paper(
        id="deep-speech-2",
        title="Deep Speech 2: End-to-End Speech Recognition in English and Mandarin",
        authors="Dario Amodei, Rishita Anubhai, Eric Battenberg, Carl Case, Jared Casper, Bryan Catanzaro, et al. (34 authors)",
        year=2016,
        url="https://arxiv.org/abs/1512.02595",
        track=1,
        takeaway="Spectrogram to characters with one network trained by CTC; sequence-wise batch norm and SortaGrad make deep recurrent stacks train.",
        module="landmarks.papers.deep_speech_2",
    ),
    Paper(
        id="vlae",
        title="Variational Lossy Autoencoder",
        authors="Xi Chen, Diederik P. Kingma, Tim Salimans, Yan Duan, Prafulla Dhariwal, John Schulman, Ilya Sutskever, Pieter Abbeel",
        year=2017,
        url="https://arxiv.org/abs/1611.02731",
        track=1,
        takeaway="A decoder that can model the data alone leaves the latent code unused; limit what it sees and the code keeps the global structure: a lossy code by design.",
        module="landmarks.papers.vlae",
    ),
    Paper(
        id="cs231n",
        title="CS231n: Convolutional Neural Networks for Visual Recognition",
        authors="Andrej Karpathy, Fei-Fei Li, Justin Johnson",
        year=2015,
        url="https://cs231n.github.io/",
        track=2,
        takeaway="Backpropagation by hand, one layer at a time, checked against numerical gradients: from kNN and linear classifiers to a two-layer net and a ConvNet built on im2col.",
        module="landmarks.papers.cs231n",
    ),
    Paper(
        id="alexnet",
        title="ImageNet Classification with Deep Convolutional Neural Networks",
        authors="Alex Krizhevsky, Ilya Sutskever, Geoffrey E. Hinton",
        year=2012,
        url="https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks",
        track=2,
        takeaway="A deep ConvNet with ReLUs, dropout and augmentation, trained on GPUs, wins ImageNet by a wide margin.",
        module="landmarks.papers.alexnet",
    ),
    Paper(
        id="resnet",
        title="Deep Residual Learning for Image Recognition",
        authors="Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun",
        year=2015,
        url="https://arxiv.org/abs/1512.03385",
        track=2,
        takeaway="Identity shortcuts remove the degradation problem: deeper residual nets train better, deeper plain nets worse.",
        module="landmarks.papers.resnet",
    ),
    Paper(
        id="convnext",
        title="A ConvNet for the 2020s",
        authors="Zhuang Liu, Hanzi Mao, Chao-Yuan Wu, Christoph Feichtenhofer, Trevor Darrell, Saining Xie",
        year=2022,
        url="https://arxiv.org/abs/2201.03545",
        track=2,
        takeaway="A ResNet modernized one Transformer-inspired step at a time, and still a pure ConvNet, matches Swin at equal FLOPs.",
        module="landmarks.papers.convnext",
    ),
    Paper(
        id="identity-mappings",
        title="Identity Mappings in Deep Residual Networks",
        authors="Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun",
        year=2016,
        url="https://arxiv.org/abs/1603.05027",
        track=2,
        takeaway="Identity shortcuts and pre-activation units let signals pass directly between any two layers: ResNet-1001 trains.",
        module="landmarks.papers.identity_mappings",
    ),
    Paper(
        id="dilated-convolutions",
        title="Multi-Scale Context Aggregation by Dilated Convolutions",
        authors="Fisher Yu, Vladlen Koltun",
        year=2016,
        url="https://arxiv.org/abs/1511.07122",
        track=2,
        takeaway="Dilated 3×3 convolutions grow the receptive field exponentially at linear cost; an identity-initialized context module uses it for dense prediction.",
        module="landmarks.papers.dilated_convolutions",
    ),
    Paper(
        id="mdl-noisy-weights",
        title="Keeping Neural Networks Simple by Minimizing the Description Length of the Weights",
        authors="Geoffrey E. Hinton, Drew van Camp",
        year=1993,
        url="https://www.cs.toronto.edu/~hinton/absps/colt93.html",
        track=3,
        takeaway="Gaussian noise on every weight, sized to minimize the bits for the weights plus the misfits, keeps a net simple enough to generalize from a few cases.",
        module="landmarks.papers.mdl_noisy_weights",
    ),
    Paper(
        id="mdl-principle",
        title="A Tutorial Introduction to the Minimum Description Length Principle",
        authors="Peter Grünwald",
        year=2004,
        url="https://arxiv.org/abs/math/0406077",
        track=3,
        takeaway="Pick the model that compresses the data most, parameters included: MDL finds a polynomial's degree and a Markov chain's order where maximum likelihood overfits.",
        module="landmarks.papers.mdl_principle",
    ),
    Paper(
        id="kolmogorov-complexity",
        title="Kolmogorov Complexity and Algorithmic Randomness",
        authors="Alexander Shen, Vladimir A. Uspensky, Nikolai Vereshchagin",
        year=2017,
        url="https://bookstore.ams.org/surv-220",
        track=3,
        takeaway="Compressors bound K(x) from above: random strings do not compress, NCD clusters by source, and a good predictor is a good compressor.",
        module="landmarks.papers.kolmogorov_complexity",
    ),
    Paper(
        id="coffee-automaton",
        title="Quantifying the Rise and Fall of Complexity in Closed Systems: The Coffee Automaton",
        authors="Scott Aaronson, Sean M. Carroll, Lauren Ouellette",
        year=2014,
        url="https://arxiv.org/abs/1405.6903",
        track=3,
        takeaway="Entropy rises monotonically while apparent complexity rises and then falls as coffee and cream mix.",
        module="landmarks.papers.coffee_automaton",
    ),
    Paper(
        id="universal-intelligence",
        title="Machine Super Intelligence",
        authors="Shane Legg",
        year=2008,
        url="https://www.vetta.org/documents/Machine_Super_Intelligence.pdf",
        track=3,
        takeaway="Intelligence as expected reward over all computable environments weighted by simplicity, 2^-K: a Bayes-mixture agent (a small AIXI) outscores learning and random agents.",
        module="landmarks.papers.universal_intelligence",
    ),
    Paper(
        id="gpipe",
        title="GPipe: Efficient Training of Giant Neural Networks using Pipeline Parallelism",
        authors="Yanping Huang, Youlong Cheng, Ankur Bapna, Orhan Firat, Mia Xu Chen, Dehao Chen, HyoukJoong Lee, Jiquan Ngiam, Quoc V. Le, Yonghui Wu, Zhifeng Chen",
        year=2019,
        url="https://arxiv.org/abs/1811.06965",
        track=4,
        takeaway="Stages on separate devices, micro-batches through them in a fill-drain schedule: the same synchronous update, a bubble of (K-1)/(M+K-1), memory bought back by recomputation.",
        module="landmarks.papers.gpipe",
    ),
    Paper(
        id="scaling-laws",
        title="Scaling Laws for Neural Language Models",
        authors="Jared Kaplan, Sam McCandlish, Tom Henighan, Tom B. Brown, Benjamin Chess, Rewon Child, Scott Gray, Alec Radford, Jeffrey Wu, Dario Amodei",
        year=2020,
        url="https://arxiv.org/abs/2001.08361",
        track=4,
        takeaway="Loss falls as a power law in parameters, data and compute; larger models learn from fewer tokens.",
        module="landmarks.papers.scaling_laws",
    ),
    Paper(
        id="maxvit",
        title="MaxViT: Multi-Axis Vision Transformer",
        authors="Zhengzhong Tu, Hossein Talebi, Han Zhang, Feng Yang, Peyman Milanfar, Alan Bovik, Yinxiao Li",
        year=2022,
        url="https://arxiv.org/abs/2204.01697",
        track=5,
        takeaway="Attention split along two axes, local P×P windows then a sparse G×G grid across the whole image, mixes globally in every block at a cost linear in the pixels.",
        module="landmarks.papers.maxvit",
    ),
    Paper(
        id="latent-diffusion",
        title="High-Resolution Image Synthesis with Latent Diffusion Models",
        authors="Robin Rombach, Andreas Blattmann, Dominik Lorenz, Patrick Esser, Björn Ommer",
        year=2022,
        url="https://arxiv.org/abs/2112.10752",
        track=5,
        takeaway="Compress with an autoencoder trained once, then diffuse in its small latent space: the same quality for a fraction of the training and sampling cost, conditioned by cross-attention.",
        module="landmarks.papers.latent_diffusion",
    ),
    Paper(
        id="imagine-flash",
        title="Imagine Flash: Accelerating Emu Diffusion Models with Backward Distillation",
        authors="Jonas Kohler, Albert Pumarola, Edgar Schönfeld, Artsiom Sanakoyeu, Roshan Sumbaly, Peter Vajda, Ali Thabet",
        year=2024,
        url="https://arxiv.org/abs/2405.05224",
        track=6,
        takeaway="Distil a diffusion model into a 3-step sampler on the student's own backward trajectory from pure noise, with the teacher correcting the student's re-noised estimate.",
        module="landmarks.papers.imagine_flash",
    ),
    Paper(
        id="embeddings",
        title="Word vectors: word2vec, GloVe and fastText subword vectors",
        authors="Tomas Mikolov, Kai Chen, Greg Corrado, Jeffrey Dean, Ilya Sutskever; Jeffrey Pennington, Richard Socher, Christopher D. Manning; Piotr Bojanowski, Edouard Grave, Armand Joulin",
        year=2013,
        url="https://arxiv.org/abs/1310.4546",
        track=7,
        takeaway="Words in similar contexts get similar vectors and relations become directions; character n-grams give vectors to words never seen.",
        module="landmarks.papers.embeddings",
    ),
    Paper(
        id="bpe",
        title="Neural Machine Translation of Rare Words with Subword Units (byte-level BPE as in GPT-2)",
        authors="Rico Sennrich, Barry Haddow, Alexandra Birch; byte-level: Alec Radford, Jeffrey Wu, Rewon Child, David Luan, Dario Amodei, Ilya Sutskever",
        year=2016,
        url="https://arxiv.org/abs/1508.07909",
        track=7,
        takeaway="Merge the most frequent adjacent pair, again and again: subword units between characters and words, and on bytes nothing is out of vocabulary.",
        module="landmarks.papers.bpe",
    ),
    Paper(
        id="metrics",
        title="How language output is scored: BLEU, chrF, ROUGE, WER/CER and perplexity",
        authors="Kishore Papineni, Salim Roukos, Todd Ward, Wei-Jing Zhu; Maja Popović; Chin-Yew Lin; Matt Post",
        year=2002,
        url="https://aclanthology.org/P02-1040/",
        track=7,
        takeaway="Clipped n-gram precision with a brevity penalty (BLEU), character n-gram F-score (chrF), n-gram and LCS recall (ROUGE): each written out and equal to the library people report with.",
        module="landmarks.papers.metrics",
    ),
    Paper(
        id="ann",
        title="Approximate nearest neighbours: random-hyperplane LSH, IVF-PQ and HNSW",
        authors="Moses S. Charikar; Hervé Jégou, Matthijs Douze, Cordelia Schmid; Jeff Johnson; Yu. A. Malkov, D. A. Yashunin",
        year=2016,
        url="https://arxiv.org/abs/1603.09320",
        track=7,
        takeaway="Search a layered proximity graph, compressed codes in k-means cells, or hash buckets instead of every vector: HNSW finds 95 % of the true neighbours with a log n cost.",
        module="landmarks.papers.ann",
    ),
    Paper(
        id="peft",
        title="Parameter-efficient fine-tuning: adapters, prefix tuning, prompt tuning, LoRA and QLoRA",
        authors="Neil Houlsby et al.; Xiang Lisa Li, Percy Liang; Brian Lester et al.; Edward J. Hu et al.; Tim Dettmers et al.",
        year=2021,
        url="https://arxiv.org/abs/2106.09685",
        track=7,
        takeaway="Freeze the pretrained weights and train a small addition instead: LoRA's low-rank update nearly matches full fine-tuning, even over a base stored in 4 bits.",
        module="landmarks.papers.peft",
    ),
    Paper(
        id="multi-token-prediction",
        title="Better & Faster Large Language Models via Multi-token Prediction",
        authors="Fabian Gloeckle, Badr Youbi Idrissi, Baptiste Rozière, David Lopez-Paz, Gabriel Synnaeve",
        year=2024,
        url="https://arxiv.org/abs/2404.19737",
        track=6,
        takeaway="Heads that predict the next n tokens on one trunk draft tokens for free: self-speculative decoding accepts several per forward pass with exactly the greedy output.",
        module="landmarks.papers.multi_token_prediction",
    ),
    Paper(
        id="vit",
        title="An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
        authors="Alexey Dosovitskiy, Lucas Beyer, Alexander Kolesnikov, Dirk Weissenborn, Xiaohua Zhai, Thomas Unterthiner, et al.",
        year=2021,
        url="https://arxiv.org/abs/2010.11929",
        track=5,
        takeaway="Cut an image into patches and let a plain Transformer read them: with little built-in bias it needs more data than a ConvNet, and its attention reaches further with depth.",
        module="landmarks.papers.vit",
    ),
    Paper(
        id="aim",
        title="Scalable Pre-training of Large Autoregressive Image Models",
        authors="Alaaeldin El-Nouby, Michal Klein, Shuangfei Zhai, Miguel Angel Bautista, Alexander Toshev, Vaishaal Shankar, Joshua M. Susskind, Armand Joulin",
        year=2024,
        url="https://arxiv.org/abs/2401.08541",
        track=6,
        takeaway="Pre-train a ViT like a language model, predicting each image patch from the ones before it: the lower that loss, the better a probe on the frozen features.",
        module="landmarks.papers.aim",
    ),
    Paper(
        id="transformer-fam",
        title="TransformerFAM: Feedback attention is working memory",
        authors="Dongseong Hwang, Weiran Wang, Zhuoyuan Huo, Khe Chai Sim, Pedro Moreno Mengibar",
        year=2024,
        url="https://arxiv.org/abs/2404.09173",
        track=6,
        takeaway="Memory tokens that read each block and feed back into the next give sliding-window attention a working memory of fixed size: a passkey far outside the window is retrieved.",
        module="landmarks.papers.transformer_fam",
    ),
    Paper(
        id="ssm-copying",
        title="Repeat After Me: Transformers are Better than State Space Models at Copying",
        authors="Samy Jelassi, David Brandfonbrener, Sham M. Kakade, Eran Malach",
        year=2024,
        url="https://arxiv.org/abs/2402.01032",
        track=6,
        takeaway="A fixed-size state cannot hold a long string: a transformer learns to copy from far fewer examples than a Mamba of the same size, and keeps copying past its training lengths.",
        module="landmarks.papers.ssm_copying",
    ),
    Paper(
        id="griffin",
        title="Griffin: Mixing Gated Linear Recurrences with Local Attention for Efficient Language Models",
        authors="Soham De, Samuel L. Smith, Anushan Fernando, Aleksandar Botev, George Cristian-Muraru, Albert Gu, et al.",
        year=2024,
        url="https://arxiv.org/abs/2402.19427",
        track=6,
        takeaway="A gated linear recurrence (the RG-LRU), alone or mixed with local attention, matches a transformer's loss and decodes with a fixed-size state instead of a growing KV cache.",
        module="landmarks.papers.griffin",
    ),
    Paper(
        id="vit-registers",
        title="Vision Transformers Need Registers",
        authors="Timothée Darcet, Maxime Oquab, Julien Mairal, Piotr Bojanowski",
        year=2024,
        url="https://arxiv.org/abs/2309.16588",
        track=6,
        takeaway="Large ViTs recycle a few background patches as scratch space, which leave with outsized norms and spoil the attention maps; a few extra learned tokens, thrown away at the output, take over that role.",
        module="landmarks.papers.vit_registers",
    ),
    Paper(
        id="layer-pruning",
        title="The Unreasonable Ineffectiveness of the Deeper Layers",
        authors="Andrey Gromov, Kushal Tirumala, Hassan Shapourian, Paolo Glorioso, Daniel A. Roberts",
        year=2024,
        url="https://arxiv.org/abs/2403.17887",
        track=6,
        takeaway="The block of layers that turns the residual stream least lies deep in the network: remove it, heal with a little QLoRA, and the model barely notices.",
        module="landmarks.papers.layer_pruning",
    ),
    Paper(
        id="llm2vec",
        title="LLM2Vec: Large Language Models Are Secretly Powerful Text Encoders",
        authors="Parishad BehnamGhader, Vaibhav Adlakha, Marius Mosbach, Dzmitry Bahdanau, Nicolas Chapados, Siva Reddy",
        year=2024,
        url="https://arxiv.org/abs/2404.05961",
        track=6,
        takeaway="Bidirectional attention, masked next-token prediction and unsupervised SimCSE turn a decoder-only language model into a strong text encoder, without labels.",
        module="landmarks.papers.llm2vec",
    ),
    Paper(
        id="many-shot-icl",
        title="Many-Shot In-Context Learning",
        authors="Rishabh Agarwal, Avi Singh, Lei M. Zhang, Bernd Bohnet, Luis Rosias, Stephanie Chan, Biao Zhang, Ankesh Anand, Zaheer Abbas, Azade Nova, John D. Co-Reyes, Eric Chu, Feryal Behbahani, Aleksandra Faust, Hugo Larochelle",
        year=2024,
        url="https://arxiv.org/abs/2404.11018",
        track=6,
        takeaway="Accuracy keeps rising from a few shots to hundreds, and many shots override what pre-training taught: consistently flipped labels win once the context holds enough of them.",
        module="landmarks.papers.many_shot_icl",
    ),
    Paper(
        id="no-zero-shot",
        title='No "Zero-Shot" Without Exponential Data: Pretraining Concept Frequency Determines Multimodal Model Performance',
        authors="Vishaal Udandarao, Ameya Prabhu, Adhiraj Ghosh, Yash Sharma, Philip H. S. Torr, Adel Bibi, Samuel Albanie, Matthias Bethge",
        year=2024,
        url="https://arxiv.org/abs/2404.04125",
        track=6,
        takeaway="A CLIP model's zero-shot accuracy on a concept is linear in the log of how often the concept was in its pretraining data: each fixed gain needs a constant multiple of data.",
        module="landmarks.papers.no_zero_shot",
    ),
]

_BY_ID = {p.id: p for p in PAPERS}


class UnknownPaper(UserInputError, KeyError):
    def __init__(self, wanted: str) -> None:
        self.wanted = wanted
        self.closest = closest_ids(wanted)
        super().__init__(wanted)

    def __str__(self) -> str:
        hint = (
            f" Did you mean: {', '.join(self.closest)}?"
            if self.closest
            else f" Known ids: {', '.join(ids())}."
        )
        return f"unknown paper id {self.wanted!r}.{hint} (`landmarks list` shows them all)"


def ids() -> list[str]:
    return [p.id for p in PAPERS]


def get(paper_id: str) -> Paper:
    try:
        return _BY_ID[paper_id]
    except KeyError:
        raise UnknownPaper(paper_id) from None


def closest_ids(wanted: str, n: int = 3) -> list[str]:
    close = difflib.get_close_matches(wanted, ids(), n=n, cutoff=0.4)
    prefix = [i for i in ids() if i.startswith(wanted) or wanted in i]
    return list(dict.fromkeys(prefix + close))[:n]
