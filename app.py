import streamlit as st
st.title('Bento Event Composer')
