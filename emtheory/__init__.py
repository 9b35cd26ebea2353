__version__ = "0.1.0"

# The package face: every estimator, so that `from emtheory import GaussianMixtureEM, PPCA` works. The modules
# below it import only downward (tests/test_layers.py); nothing in the package imports this face.
from .em import GaussianMixtureEM
from .map_em import GaussianMixtureMAP
from .cavi import GaussianMixtureCAVI
from .mcem import GaussianMixtureMCEM
from .expfam import ExpFamilyMixtureEM, ExpFamilyMixtureMAP
from .gem import GammaMixtureGEM
from .ppca import PPCA
from .latent import LinearVAE
from .glmm import RandomInterceptGLMM
from .factor import FactorAnalysisEM
from .vae import VAE
from .select import select_mixture
from .datasets import load_faithful

__all__ = ["GaussianMixtureEM", "GaussianMixtureMAP", "GaussianMixtureCAVI", "GaussianMixtureMCEM", "ExpFamilyMixtureEM",
           "ExpFamilyMixtureMAP", "GammaMixtureGEM", "PPCA", "LinearVAE", "RandomInterceptGLMM", "FactorAnalysisEM", "VAE", "select_mixture", "load_faithful"]
