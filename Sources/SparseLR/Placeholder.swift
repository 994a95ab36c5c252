public enum SparseLRPlaceholder {}
