//! `producer features`: placeholder until the feature module lands.
