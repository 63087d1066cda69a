"""Relation classifiers (sentence and bag level) and model directories."""

from rex.model.io import LoadedModel, build_model, load_model_dir, save_model_dir
from rex.model.relation import RelationModel, consistency_loss, relation_loss

__all__ = ["LoadedModel", "RelationModel", "build_model", "consistency_loss", "load_model_dir", "relation_loss",
           "save_model_dir"]
