"""Motion out: other tools' joint orders, metric camera-frame 3D, BVH animation.

skeletons.py converts our 16 joints to the orders other tools read (Human3.6M's 17),
camera.py places a pose in the camera's frame from the intrinsics, rotations.py solves
joint rotations and their Euler angles, bvh.py writes the animation. NumPy only.
"""
