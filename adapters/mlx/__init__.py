"""MLX through mlx-lm (the `hubship[mlx]` extra): conversion with `mlx_lm.convert`, verification with mlx-lm's own loader."""
