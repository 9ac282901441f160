"""Face models: ``FaceModel``, the built-in model, ICT-FaceKit, embeddings, the ARKit group table."""
