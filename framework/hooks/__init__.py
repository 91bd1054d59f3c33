"""Layer 5, hooks: the plugin contract and the one place hooks are fired.

`specs` specifies every hook (what a plugin implements); `context` is the read-only
`RunContext` hooks get as ``run``; `progress` is where training is (epoch, step, history, stop
reason); `manager` loads and checks a recipe's plugins, in the order `order` resolves;
`adapter` fires every hook, from one Keras callback and the run's lifecycle; `monitor` helps
plugins watch a metric.
"""
