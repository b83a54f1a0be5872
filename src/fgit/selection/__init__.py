"""Selection: choose, per problem, the candidate most similar to the correct response that is
really incorrect (fails its tests, where the problem has tests)."""
